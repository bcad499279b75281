/**
 * Progress on stderr: on a terminal, one bar redrawn in place (files done/total, chunks
 * embedded, what is in flight) with finished and failed documents printed above it; otherwise
 * plain lines, one per finished or failed document, that read well in CI logs.
 */
import { relative } from 'node:path';
import type { PipelineEvent, Stage } from './pipeline.js';

export interface ProgressOptions {
  total: number;
  stream?: NodeJS.WriteStream;
  /** Draw the bar; defaults to whether the stream is a terminal. */
  tty?: boolean;
}

export function createProgress({ total, stream = process.stderr, tty = stream.isTTY === true }: ProgressOptions) {
  let done = 0;
  let embedded = 0;
  const inFlight = new Map<string, { stage: Stage; embedded: number; chunks: number | undefined }>();
  let barShown = false;

  function clearBar() {
    if (tty && barShown) stream.write('\r\x1b[2K');
    barShown = false;
  }

  function drawBar() {
    if (!tty) return;
    const width = 20;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const current = [...inFlight].map(([file, s]) =>
      s.stage === 'embedding' && s.chunks !== undefined
        ? `${file} embedding ${s.embedded}/${s.chunks}`
        : `${file} ${s.stage}`,
    );
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} files | ${embedded} chunks embedded${current.length > 0 ? ` | ${current.join(', ')}` : ''}`;
    const columns = stream.columns ?? 120;
    stream.write(`\r\x1b[2K${line.length > columns - 1 ? `${line.slice(0, columns - 2)}…` : line}`);
    barShown = true;
  }

  /** A line that stays (above the bar on a terminal). */
  function print(line: string) {
    clearBar();
    stream.write(`${line}\n`);
    drawBar();
  }

  return {
    handle(event: PipelineEvent) {
      switch (event.type) {
        case 'stage': {
          const state = inFlight.get(event.file);
          inFlight.set(event.file, { embedded: 0, chunks: undefined, ...state, stage: event.stage });
          break;
        }
        case 'chunked': {
          const state = inFlight.get(event.file);
          if (state) state.chunks = event.chunks;
          break;
        }
        case 'embedded': {
          embedded += event.count;
          const state = inFlight.get(event.file);
          if (state) state.embedded += event.count;
          break;
        }
        case 'done': {
          done++;
          inFlight.delete(event.file);
          const { result } = event;
          const pages = result.pages === undefined ? '' : `, ${result.pages} page${result.pages === 1 ? '' : 's'}`;
          print(
            `[${done}/${total}] ${event.file}: ${result.chunks} chunk${result.chunks === 1 ? '' : 's'}${pages} -> ${displayPath(result.outPath)}`,
          );
          return;
        }
        case 'failed': {
          done++;
          inFlight.delete(event.file);
          const id = event.failure.correlationId ? ` [correlation_id=${event.failure.correlationId}]` : '';
          print(`FAILED ${event.file}: ${event.failure.message}${id}`);
          return;
        }
      }
      drawBar();
    },
    print,
    /** Removes the bar, so the summary line starts on a clean line. */
    finish() {
      clearBar();
    },
  };
}

/** Relative to the working directory when the file is under it, else absolute. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}
