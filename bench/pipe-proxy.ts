/**
 * The floor for a Node proxy: node:http in, node:http out over a keep-alive agent,
 * bodies piped both ways, no parsing. tollgate's overhead is measured against this.
 *
 * Env: UPSTREAM_URL (the stand-in's origin), PORT (0 for any). Prints `LISTENING <port>`.
 */
import { Agent, createServer, type IncomingHttpHeaders, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const upstream = new URL(process.env['UPSTREAM_URL'] ?? 'http://127.0.0.1:1');
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'];

/** Maps the sidecar's public prefixes onto the upstream's own paths. */
function upstreamPath(url: string): string {
  if (url.startsWith('/openai/')) return url.slice('/openai'.length);
  if (url.startsWith('/llamaparse/')) return url.slice('/llamaparse'.length);
  return url;
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out = { ...headers };
  for (const name of HOP_BY_HOP) delete out[name];
  return out;
}

const server = createServer(function pipe(req, res) {
  const upstreamReq = request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: upstreamPath(req.url ?? '/'),
      headers: { ...withoutHopByHop(req.headers), host: upstream.host },
      agent,
    },
    function relay(upstreamRes) {
      res.writeHead(upstreamRes.statusCode ?? 502, withoutHopByHop(upstreamRes.headers));
      upstreamRes.pipe(res);
    },
  );
  upstreamReq.on('error', function upstreamFailed() {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end();
  });
  // A client that goes away must not leave the upstream call running.
  res.on('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
  });
  req.pipe(upstreamReq);
});

server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`);
});

function shutdown(): void {
  server.close();
  agent.destroy();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The parent holds our stdin open; when it dies, so do we.
process.stdin.on('end', shutdown);
process.stdin.resume();
