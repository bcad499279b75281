import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { DestinationStream } from 'pino';
import { createApp, pathRefused, proxyRoutes, VALID_CORRELATION_ID } from './app.js';
import {
  type Config,
  ConfigError,
  ConfigSource,
  type Loaded,
  type LoadOptions,
  loadConfig,
  PROVIDERS,
  type Provider,
} from './config/index.js';
import { internalError, invalidRequest, TollgateError } from './errors.js';
import type { Check } from './health/index.js';
import { keyFormWarnings, ProviderProbes } from './health/probes.js';
import { Limiter } from './limits/limiter.js';
import { Meter } from './metering/meter.js';
import { PriceSource, PriceTableError } from './metering/prices.js';
import { costReport, GROUP_KEYS, type GroupKey, REPORT_WINDOWS, type ReportWindow } from './metering/report.js';
import { providers } from './providers/index.js';
import type { ProviderMock } from './providers/types.js';
import type { CallRecord } from './proxy/call.js';
import type { ProxyDeps } from './proxy/handler.js';
import { Upstreams } from './proxy/upstream.js';
import { CircuitBreaker } from './routing/circuit.js';
import { ModeState } from './routing/mode.js';
import { createStore, type Store } from './state/index.js';
import { createLogger, type Logger, logCall } from './telemetry/logger.js';
import { createMetrics } from './telemetry/metrics.js';
import { exporterStatus } from './telemetry/otel.js';
import { callTracer } from './telemetry/tracing.js';

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
  /** Use this store instead of the one STATE_URL names (tests). */
  store?: Store;
}

export interface Tollgate {
  url: string;
  port: number;
  server: Server;
  config: ConfigSource;
  modes: ModeState;
  circuits: Record<Provider, CircuitBreaker>;
  log: Logger;
  store: Store;
  limiter: Limiter;
  probes: ProviderProbes;
  /** Resolves when the first round of provider probes is done. */
  firstProbes: Promise<void>;
  inFlight(): number;
  /** Stops accepting, lets in-flight requests finish (up to SHUTDOWN_GRACE_MS), then closes everything. */
  shutdown(reason?: string): Promise<void>;
}

/**
 * Sanitises what the router would otherwise trust: the Host header (never used for routing
 * or forwarding) and absolute-form request targets (served by their path).
 */
function sanitize(req: IncomingMessage, res: ServerResponse, fallbackHost: string) {
  // The correlation id is settled here, so even an answer the adapter gives before the app runs carries it.
  const given = req.headers['x-correlation-id'];
  const id = typeof given === 'string' && VALID_CORRELATION_ID.test(given) ? given : randomUUID();
  req.headers['x-correlation-id'] = id;
  res.setHeader('x-correlation-id', id);
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

  let prices: PriceSource;
  try {
    prices = new PriceSource({ file: loaded.config.pricesFile, extra: loaded.config.extraPrices });
  } catch (e) {
    if (e instanceof PriceTableError) throw new ConfigError(e.issues.map((i) => `prices: ${i}`));
    throw e;
  }
  const meter = new Meter(prices);
  const store =
    options.store ?? (await createStore(loaded.config.stateUrl, { log, spoolDir: loaded.config.stateSpoolDir }));
  await store.open();
  const rejected = (provider: Provider, limit: string) => log.debug({ provider, limit }, 'rate limited');
  const limiter = new Limiter({ store, config, onRejected: rejected });

  source.on('change', ({ next, prev, changed }) => {
    log.level = next.config.logLevel;
    for (const p of PROVIDERS) {
      if (next.config.providers[p].mode !== prev.config.providers[p].mode) modes.set(next.config.providers[p].mode, p);
    }
    if (next.config.defaultMode !== prev.config.defaultMode) modes.setDefault(next.config.defaultMode);
    if (changed.some((k) => k.endsWith('_MODE'))) log.info({ modes: modes.snapshot() }, 'modes after reload');
    const reloaded = prices.reload({ file: next.config.pricesFile, extra: next.config.extraPrices });
    if (!reloaded.ok)
      log.error({ issues: reloaded.issues }, 'price table reload rejected; the previous prices stay in force');
  });

  for (const w of keyFormWarnings(loaded.config)) log.warn({}, w);
  const probes = new ProviderProbes({ config, mode: (p) => modes.get(p), log });
  const metrics = createMetrics({
    serviceName: loaded.config.otel.serviceName,
    serviceVersion: VERSION,
    sources: {
      snapshot: () => limiter.snapshot(),
      providerUp: (p) => providerUp(p),
      circuitOpen: (p) => circuits[p].state === 'open',
      mode: (p) => modes.get(p),
    },
  });
  /** A provider is up while its circuit is not open and its last probe passed. */
  const providerUp = (p: Provider): boolean =>
    modes.get(p) === 'mock' || (circuits[p].state !== 'open' && probes.up(p));
  const hosts = new Map<string, string>();
  const upstreamHost = (p: string): string | undefined => {
    const url = config().providers[p as Provider]?.upstreamUrl;
    if (url === undefined) return undefined;
    let host = hosts.get(url);
    if (host === undefined) {
      host = new URL(url).host;
      hosts.set(url, host);
    }
    return host;
  };
  let draining = false;
  let active = 0;
  const proxy: ProxyDeps = {
    config,
    modes,
    circuits,
    upstreams,
    mocks,
    limiter,
    meter,
    tracer: callTracer(upstreamHost),
    providerHealthy: (p) => probes.up(p),
    onCallEnd: (call) => {
      metrics.recordCall(call);
      logCall(log, call);
      options.onCall?.(call);
    },
    onError: (err, call) => log.error({ err, correlation_id: call.correlationId }, 'proxy error'),
  };

  const checks = (): Record<string, Check[]> => {
    const time = new Date().toISOString();
    const out: Record<string, Check[]> = {};
    for (const p of PROVIDERS) {
      const check = probes.check(p);
      // An open circuit in REAL mode fails the provider whatever the last probe said.
      const mode = modes.get(p);
      if (mode !== 'mock' && circuits[p].state === 'open') {
        // REAL: calls fail with 503; HYBRID: the mock answers, so it only degrades the sidecar.
        check.status = mode === 'real' ? 'fail' : check.status === 'pass' ? 'warn' : check.status;
        if (mode === 'hybrid') check.overall = 'warn';
        check.output = `circuit open after ${circuits[p].consecutiveFailures} consecutive failures; ${check.output ?? ''}`;
      }
      out[`${p}:upstream`] = [check];
    }
    const ex = exporterStatus();
    if (ex.configured) {
      out['telemetry:exporter'] = [
        {
          componentType: 'component',
          status: ex.consecutiveFailures === 0 ? 'pass' : 'warn',
          observedValue: ex.failures,
          observedUnit: 'failed exports',
          time,
          output:
            ex.consecutiveFailures === 0
              ? `OTLP ${ex.protocol} to ${ex.endpoint}: ${ex.exported} spans exported`
              : `OTLP export failing (${ex.consecutiveFailures} in a row): ${ex.lastError ?? 'unknown error'}`,
        },
      ];
    }
    const sh = store.health();
    // A remote store on its local fallback fails its own check but only warns overall (contract §6).
    out['state:store'] = [
      {
        componentType: 'datastore',
        status: sh.status,
        observedValue: storeLatencyMs,
        observedUnit: 'ms',
        time,
        output: sh.output,
        ...(sh.degraded ? { overall: 'warn' as const } : {}),
      },
    ];
    for (const b of lastBudgets) {
      const ratio = b.limitUsd === 0 ? 1 : b.spentUsd / b.limitUsd;
      const key = `budget:${b.window}${b.scope === 'total' ? '' : `:${b.scope}`}`;
      const list = out[key] ?? [];
      out[key] = list;
      list.push({
        componentId: b.scope,
        // A spent budget is an operating state (calls get 429 or the mock), not a broken sidecar: warn.
        status: ratio >= config().budgets.warnRatio ? 'warn' : 'pass',
        observedValue: Math.round(ratio * 10000) / 10000,
        observedUnit: 'ratio of budget spent',
        time,
        output: `$${b.spentUsd.toFixed(4)} of $${b.limitUsd.toFixed(4)} spent`,
      });
    }
    return out;
  };
  const warned = new Set<string>();
  let storeLatencyMs = 0;
  let lastBudgets: Awaited<ReturnType<Limiter['snapshot']>>['budgets'] = [];
  const refreshBudgets = async () => {
    try {
      const t0 = performance.now();
      lastBudgets = (await limiter.snapshot()).budgets;
      storeLatencyMs = Math.round((performance.now() - t0) * 100) / 100;
      for (const b of lastBudgets) {
        const key = `${b.scope}:${b.window}:${b.windowStart}`;
        // Once per budget window when it crosses the warning ratio, not on every refresh.
        if (b.limitUsd > 0 && b.spentUsd / b.limitUsd >= config().budgets.warnRatio && !warned.has(key)) {
          warned.add(key);
          log.warn(
            { scope: b.scope, window: b.window, spent_usd: b.spentUsd, limit_usd: b.limitUsd },
            'budget near its limit',
          );
        }
      }
    } catch (err) {
      log.warn({ err }, 'budget snapshot failed');
    }
  };
  await refreshBudgets();
  const budgetTimer = setInterval(() => void refreshBudgets(), 5000);
  budgetTimer.unref();

  const routes = proxyRoutes(proxy, providers);
  const app = createApp({
    admin: {
      config: source,
      modes,
      extend: (admin) => {
        admin.get('/costs', async (c) => {
          const window = (c.req.query('window') ?? 'day') as ReportWindow;
          if (!REPORT_WINDOWS.includes(window)) throw invalidRequest('window must be hour, day or month', 'window');
          const groupBy = (c.req.query('group_by') ?? 'provider,model')
            .split(',')
            .map((g) => g.trim())
            .filter(Boolean);
          const bad = groupBy.filter((g) => !(GROUP_KEYS as readonly string[]).includes(g));
          if (bad.length > 0) throw invalidRequest(`group_by accepts ${GROUP_KEYS.join(', ')}`, 'group_by');
          return c.json(
            await costReport({
              store,
              limiter,
              window,
              groupBy: groupBy as GroupKey[],
              timeZone: config().budgets.timezone,
            }),
          );
        });
        admin.get('/limits', async (c) => {
          const snap = await limiter.snapshot();
          return c.json({
            buckets: snap.buckets.map((b) => ({
              scope: b.scope,
              kind: b.kind,
              limit_per_hour: b.limit,
              capacity: b.burst,
              available: b.remaining,
              refill_per_second: b.refillPerSecond,
              full_in_ms: b.resetMs,
            })),
            budgets: snap.budgets.map((b) => ({
              scope: b.scope,
              window: b.window,
              limit_usd: b.limitUsd,
              spent_usd: b.spentUsd,
              held_usd: b.heldUsd,
              remaining_usd: b.remainingUsd,
              from: new Date(b.windowStart).toISOString(),
              to: new Date(b.windowEnd).toISOString(),
            })),
          });
        });
      },
    },
    health: {
      version: VERSION,
      checks,
      ready: () => {
        if (draining) return { ready: false, reason: 'draining' };
        const sh = store.health();
        // A remote store's local fallback keeps serving: only an unusable embedded store is not ready.
        if (sh.status === 'fail' && !sh.degraded) return { ready: false, reason: `state store: ${sh.output}` };
        return { ready: true };
      },
    },
    metrics: () => metrics.render(),
    log,
  });

  const listener = getRequestListener(app.fetch, {
    autoCleanupIncoming: false,
    overrideGlobalObjects: false,
    // Requests the adapter refuses before the app sees them still get an error in a provider's shape.
    errorHandler: () =>
      new TollgateError(
        400,
        'invalid_request',
        'The request could not be parsed (method, target or headers)',
      ).getResponse(),
  });
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
      sanitize(req, res, hostHeader);
      // Proxied calls go straight to their handler; refused paths, unknown routes, admin and health to the app.
      const url = req.url as string;
      if (url.startsWith('/openai/') || url.startsWith('/llamaparse/')) {
        const q = url.indexOf('?');
        const path = q === -1 ? url : url.slice(0, q);
        const matched = pathRefused(path) ? undefined : routes.match(req.method ?? 'GET', path);
        if (matched !== undefined) {
          matched.handler(req, res, matched.params).catch((err: unknown) => {
            log.error({ err, path }, 'unhandled error');
            if (res.headersSent) return void res.destroy();
            const shape = path.startsWith('/llamaparse') ? 'llamaparse' : 'openai';
            const error = internalError();
            res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(error.body(shape)));
          });
          return;
        }
      }
      void listener(req, res);
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => {
    if (!socket.writable) return socket.destroy();
    // The HTTP parser refused the request before any route ran: still answer in the provider's shape.
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const line = err.rawPacket?.subarray(0, 256).toString('latin1') ?? '';
    const shape = /^[A-Z]+ \/llamaparse/.test(line) ? 'llamaparse' : 'openai';
    const message =
      status === 431
        ? 'Request header fields too large'
        : status === 408
          ? 'Request timed out'
          : 'Malformed HTTP request';
    const body = JSON.stringify(
      new TollgateError(status, status === 431 ? 'request_too_large' : 'invalid_request', message).body(shape),
    );
    const reason =
      status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json\r\nx-correlation-id: ${randomUUID()}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
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
  // Serving does not wait for the first probes (a slow provider must not delay readiness).
  const firstProbes = probes.start();

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
      await probes.stop();
      await upstreams.close();
      clearInterval(budgetTimer);
      await metrics.shutdown();
      await store.close();
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
    store,
    limiter,
    probes,
    firstProbes,
    inFlight: () => active,
    shutdown,
  };
}
