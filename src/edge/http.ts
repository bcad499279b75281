import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** host:port as a URL authority (IPv6 in brackets). */
export const authority = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * The sidecar's HTTP server: counts requests in flight, and drains — stops accepting, asks kept-alive
 * connections to close, lets what is in flight finish up to a grace period, then closes the rest.
 */
export class HttpServer {
  readonly server: Server;
  #active = 0;
  #draining = false;

  constructor(
    listener: (req: IncomingMessage, res: ServerResponse) => void,
    onClientError: (err: Error, socket: Socket) => void,
  ) {
    this.server = createServer(
      { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 30_000, maxHeaderSize: 32 * 1024 },
      (req, res) => {
        this.#active += 1;
        res.once('close', () => {
          this.#active -= 1;
        });
        if (this.#draining) res.setHeader('connection', 'close');
        listener(req, res);
      },
    );
    this.server.on('clientError', onClientError);
  }

  get inFlight(): number {
    return this.#active;
  }

  get draining(): boolean {
    return this.#draining;
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Drains for up to `graceMs`; resolves with how many requests were still in flight when it gave up. */
  async drain(graceMs: number): Promise<number> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + graceMs;
    while (this.#active > 0 && Date.now() < deadline) {
      await sleep(25);
      this.server.closeIdleConnections();
    }
    const left = this.#active;
    this.server.closeAllConnections();
    await closed;
    return left;
  }
}
