/**
 * The benchmark's upstream: the test stand-in in its own process, so the load generator,
 * the proxy and the upstream do not share an event loop. Prints `LISTENING <port>`.
 *
 * Env: BENCH_STREAM_CHUNKS (8), BENCH_CHUNK_GAP_MS (2).
 *
 * Stdin: a line `HITS <path prefix>` answers `HITS <n>` on stdout, the requests received so far on
 * paths starting with the prefix (the bench counts proxied calls with it).
 */
import { createInterface } from 'node:readline';
import { startStandin } from '../test/support/standin.js';

const standin = await startStandin({
  quiet: true,
  // Recording every request would grow without bound under load.
  maxRecorded: 0,
  streamChunks: Number(process.env['BENCH_STREAM_CHUNKS'] ?? 8),
  chunkGapMs: Number(process.env['BENCH_CHUNK_GAP_MS'] ?? 2),
});
process.stdout.write(`LISTENING ${new URL(standin.url).port}\n`);

function shutdown(): void {
  standin.close().finally(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The parent holds our stdin open; when it dies, so do we.
process.stdin.on('end', shutdown);
createInterface({ input: process.stdin }).on('line', function answer(line) {
  const match = /^HITS (.*)$/.exec(line);
  if (match !== null) process.stdout.write(`HITS ${standin.hits(match[1])}\n`);
});
