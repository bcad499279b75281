import { Writable } from 'node:stream';
import { LlamaParseReader } from 'llama-cloud-services/reader';
import { worstCaseCost } from '../../src/metering/cost.js';
import { PriceSource } from '../../src/metering/prices.js';
import { countChatTokens } from '../../src/providers/openai/tokens.js';
import type { CallRecord } from '../../src/proxy/call.js';
import { startTollgate, type Tollgate } from '../../src/wire.js';

export interface TestTollgate extends Tollgate {
  calls: CallRecord[];
  /** Every log line written, parsed. */
  logs: Record<string, unknown>[];
  /** Raw log text (for secret scans). */
  logText(): string;
  close(): Promise<void>;
}

/** Log lines go to memory, so tests can read them and nothing clutters the test output. */
export function memoryLog() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    stream,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/**
 * Starts a sidecar in this process on 127.0.0.1:0 with exactly the given variables
 * (no env file unless ENV_FILE is given; memory state unless STATE_URL is given).
 */
export async function startTestTollgate(
  vars: Record<string, string> = {},
  options: { cwd?: string; watch?: boolean; warmStep?: () => Promise<void> } = {},
): Promise<TestTollgate> {
  const log = memoryLog();
  const calls: CallRecord[] = [];
  const env: NodeJS.ProcessEnv = {
    HOST: '127.0.0.1',
    PORT: '0',
    ENV_FILE: '',
    STATE_URL: 'memory:',
    LOG_LEVEL: 'info',
    MOCK_PARSE_DELAY_MS: '0',
    ...vars,
  };
  const tollgate = await startTollgate({
    env,
    cwd: options.cwd,
    watch: options.watch ?? false,
    logDestination: log.stream,
    onCall: (c) => calls.push(c),
    warmStep: options.warmStep,
  });
  // The startup probes land before a test counts upstream hits; a test that injects a warm-up step
  // watches the warm-up itself.
  await tollgate.firstProbes;
  if (options.warmStep === undefined) await tollgate.warmed;
  Object.defineProperty(tollgate, 'logs', { get: () => log.lines(), enumerable: true });
  return Object.assign(tollgate as Tollgate & { logs: Record<string, unknown>[] }, {
    calls,
    logText: log.text,
    close: () => tollgate.shutdown('test'),
  });
}

/** What admission reserves for one chat (shipped prices): a budget of N times it fits exactly N calls. */
export const chatWorstCaseUsd = (messages: unknown[], maxTokens: number, model = 'gpt-4o-mini'): number =>
  worstCaseCost(new PriceSource().current, 'openai', model, countChatTokens(model, messages), maxTokens).usd;

/** Waits until `predicate` holds (polling), or fails after `timeoutMs`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  stepMs = 10,
): Promise<number> {
  const start = performance.now();
  while (!(await predicate())) {
    if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return performance.now() - start;
}

/** The official LlamaParse reader as a worker configures it, polling fast enough for tests. */
export const llamaParseReader = (baseUrl: string, apiKey = 'llx-placeholder'): LlamaParseReader =>
  new LlamaParseReader({ apiKey, baseUrl, resultType: 'markdown', checkInterval: 0.05, verbose: false });
