import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { DestinationStream } from 'pino';
import { createApp } from './app.js';
import {
  type Config,
  ConfigSource,
  type Loaded,
  type LoadOptions,
  loadConfig,
  PROVIDERS,
  type Provider,
} from './config/index.js';
import type { Check } from './health/index.js';
import { providers } from './providers/index.js';
import type { ProviderMock } from './providers/types.js';
import type { CallRecord } from './proxy/call.js';
import type { ProxyDeps } from './proxy/handler.js';
import { Upstreams } from './proxy/upstream.js';
import { CircuitBreaker } from './routing/circuit.js';
import { ModeState } from './routing/mode.js';
import { createLogger, type Logger, logCall } from './telemetry/logger.js';

export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
})();

export interface StartOptions extends LoadOptions {
  /** Already loaded config (else loaded from env/cwd). */
  loaded?: Loaded;
  /** Where logs go (default stdout). */
  logDestination?: DestinationStream;
  /** Watch the env file for changes (default true). */
  watch?: boolean;
  /** Observe every finished call (tests, metrics). */
  onCall?: (call: CallRecord) => void;
}

export interface Tollgate {
  url: string;
  port: number;
  server: Server;
  config: ConfigSource;
  modes: ModeState;
  circuits: Record<Provider, CircuitBreaker>;
  log: Logger;
  inFlight(): number;
  /** Stops accepting, lets in-flight requests finish (up to SHUTDOWN_GRACE_MS), then closes everything. */
  shutdown(reason?: string): Promise<void>;
}

/**
 * Sanitises what the router would otherwise trust: the Host header (never used for routing
 * or forwarding) and absolute-form request targets (served by their path).
 */
function sanitize(req: IncomingMessage, fallbackHost: string) {
  const url = req.url ?? '/';
  if (!url.startsWith('/')) {
    try {
      const u = new URL(url);
      req.url = u.pathname + u.search;
    } catch {
      req.url = '/';
    }
  }
  req.headers.host = fallbackHost;
}

/** Builds every part from config, wires them and starts listening. */
export async function startTollgate(options: StartOptions = {}): Promise<Tollgate> {
  const loaded = options.loaded ?? loadConfig(options);
  const log = createLogger({ level: loaded.config.logLevel, destination: options.logDestination });
  const source = new ConfigSource(loaded, options, log);
  const config = (): Config => source.config;

  const modes = new ModeState(loaded.config.defaultMode, {
    openai: loaded.config.providers.openai.mode,
    llamaparse: loaded.config.providers.llamaparse.mode,
  });
  const circuits = Object.fromEntries(
    PROVIDERS.map((p) => [
      p,
      new CircuitBreaker(
        () => config().circuit,
        Date.now,
        (state) => log.warn({ provider: p, circuit: state }, `circuit ${state}`),
      ),
    ]),
  ) as Record<Provider, CircuitBreaker>;
  const mockSettings = () => config().mock;
  const mocks = Object.fromEntries(
    // The proxy enforces the (hot-reloadable) upload cap on every request before the mock reads a byte.
    providers.map((a) => [a.name, a.createMock(mockSettings, { maxUploadBytes: Number.MAX_SAFE_INTEGER })]),
  ) as Record<Provider, ProviderMock & { close?(): void }>;
  const upstreams = new Upstreams();

  source.on('change', ({ next, prev, changed }) => {
    log.level = next.config.logLevel;
    for (const p of PROVIDERS) {
      if (next.config.providers[p].mode !== prev.config.providers[p].mode) modes.set(next.config.providers[p].mode, p);
    }
    if (next.config.defaultMode !== prev.config.defaultMode) modes.setDefault(next.config.defaultMode);
    if (changed.some((k) => k.endsWith('_MODE'))) log.info({ modes: modes.snapshot() }, 'modes after reload');
  });

  let draining = false;
  let active = 0;
  const proxy: ProxyDeps = {
    config,
    modes,
    circuits,
    upstreams,
    mocks,
    onCallEnd: (call) => {
      logCall(log, call);
      options.onCall?.(call);
    },
    onError: (err, call) => log.error({ err, correlation_id: call.correlationId }, 'proxy error'),
  };

  const checks = (): Record<string, Check[]> => {
    const time = new Date().toISOString();
    const out: Record<string, Check[]> = {};
    for (const p of PROVIDERS) {
      const mode = modes.get(p);
      const circuit = circuits[p].state;
      const status = mode === 'mock' ? 'pass' : circuit === 'closed' ? 'pass' : mode === 'hybrid' ? 'warn' : 'fail';
      out[`${p}:upstream`] = [
        {
          componentType: 'component',
          status,
          observedValue: circuits[p].consecutiveFailures,
          observedUnit: 'consecutive failures',
          time,
          output: mode === 'mock' ? 'mock mode: upstream not used' : `circuit ${circuit}`,
        },
      ];
    }
    return out;
  };

  const app = createApp({
    proxy,
    providers,
    admin: { config: source, modes },
    health: {
      version: VERSION,
      checks,
      ready: () => (draining ? { ready: false, reason: 'draining' } : { ready: true }),
    },
    log,
  });

  const listener = getRequestListener(app.fetch, { autoCleanupIncoming: false, overrideGlobalObjects: false });
  const cfg = loaded.config;
  const hostHeader = `${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${cfg.port}`;
  const server = createServer(
    { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 30_000, maxHeaderSize: 32 * 1024 },
    (req: IncomingMessage, res: ServerResponse) => {
      active += 1;
      res.once('close', () => {
        active -= 1;
      });
      if (draining) res.setHeader('connection', 'close');
      sanitize(req, hostHeader);
      void listener(req, res);
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  if (options.watch !== false) source.watch();

  let closing: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown') => {
    closing ??= (async () => {
      draining = true;
      log.info({ reason, in_flight: active }, 'draining');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + config().shutdownGraceMs;
      while (active > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        server.closeIdleConnections();
      }
      if (active > 0) log.warn({ in_flight: active }, 'grace period over; closing remaining connections');
      server.closeAllConnections();
      await closed;
      source.close();
      for (const m of Object.values(mocks)) m.close?.();
      await upstreams.close();
      log.info({ reason }, 'stopped');
      log.flush?.();
    })();
    return closing;
  };

  const url = `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}`;
  log.info(
    { url, modes: modes.snapshot().providers, version: VERSION, env_file: loaded.envFile },
    'tollgate listening',
  );
  return {
    url,
    port,
    server,
    config: source,
    modes,
    circuits,
    log,
    inFlight: () => active,
    shutdown,
  };
}
