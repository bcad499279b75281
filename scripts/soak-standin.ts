/**
 * The soak run's upstream: the test stand-in in its own process, plus a small control endpoint
 * on loopback so the soak driver can switch faults on and off (the stand-in's setFault is
 * in-process). Prints `LISTENING <port> <controlPort>`.
 *
 *   POST /fault  {"fault": Fault | null}   switch the fault (applies to every request until switched)
 *   GET  /stats                            metered hit counts: total, and those taken while a fault was on
 *
 * Env: SOAK_CHUNK_GAP_MS (5).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Fault, startStandin } from '../test/support/standin.js';

const METERED = ['/v1/chat/completions', '/v1/embeddings', '/v1/responses'] as const;
const CONTROL_BODY_LIMIT = 64 * 1024;

const standin = await startStandin({
  quiet: true,
  // Recording every request would grow without bound over a long run; hit counts are kept regardless.
  maxRecorded: 0,
  chunkGapMs: Number(process.env['SOAK_CHUNK_GAP_MS'] ?? 5),
});

let current: Fault | null = null;
let since = snapshot();
const faulted: Record<string, Record<string, number>> = {};

function snapshot(): Record<string, number> {
  return Object.fromEntries(METERED.map((p) => [p, standin.hits(p)]));
}

/** Books the hits taken since the last switch against the fault that was on. */
function close(): void {
  const now = snapshot();
  if (current !== null) {
    const byPath = faulted[current.kind] ?? {};
    faulted[current.kind] = byPath;
    for (const p of METERED) byPath[p] = (byPath[p] ?? 0) + (now[p] ?? 0) - (since[p] ?? 0);
  }
  since = now;
}

const control = createServer(function onControl(req, res) {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= CONTROL_BODY_LIMIT) chunks.push(c);
  });
  req.on('end', () => {
    void (async () => {
      try {
        if (req.method === 'POST' && req.url === '/fault') {
          const { fault } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { fault: Fault | null };
          close();
          current = fault;
          await standin.setFault(fault);
          res.writeHead(204).end();
          return;
        }
        if (req.method === 'GET' && req.url === '/stats') {
          close();
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ hits: snapshot(), faulted, fault: current?.kind ?? null }));
          return;
        }
        res.writeHead(404).end();
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
      }
    })();
  });
});
control.listen(0, '127.0.0.1', () => {
  const controlPort = (control.address() as AddressInfo).port;
  process.stdout.write(`LISTENING ${new URL(standin.url).port} ${controlPort}\n`);
});

function shutdown(): void {
  control.close();
  standin.close().finally(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The parent holds our stdin open; when it dies, so do we.
process.stdin.on('end', shutdown);
process.stdin.resume();
