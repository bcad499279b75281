import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { DestinationStream } from 'pino';
import { createApp } from './app.js';
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
import { authority, clientErrorHandler, edgeListener, HttpServer, shapeFor } from './edge/index.js';
import { healthChecks, keyFormWarnings, ProviderProbes } from './health/index.js';
import { BudgetWatch, Limiter } from './limits/index.js';
import { Meter, PriceSource, PriceTableError } from './metering/index.js';
import type { ProviderMock } from './providers/index.js';
import { providers } from './providers/index.js';
import { type CallRecord, proxyRoutes, Upstreams } from './proxy/index.js';
import { CircuitBreaker, ModeState } from './routing/index.js';
import { createStore, type Store } from './state/index.js';
import { callObserver, callTracer, createLogger, createMetrics, type Logger, Telemetry } from './telemetry/index.js';

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
  /** The OpenTelemetry SDK of the process (default: off). */
  telemetry?: Telemetry;
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

const byProvider = <T>(make: (p: Provider) => T): Record<Provider, T> =>
  Object.fromEntries(PROVIDERS.map((p) => [p, make(p)])) as Record<Provider, T>;

function priceSource(config: Config): PriceSource {
  try {
    return new PriceSource({ file: config.pricesFile, extra: config.extraPrices });
  } catch (e) {
    if (e instanceof PriceTableError) throw new ConfigError(e.issues.map((i) => `prices: ${i}`));
    throw e;
  }
}

/** What a reload changes in parts built once: the log level, the modes, the price table. */
function applyReloads(source: ConfigSource, parts: { log: Logger; modes: ModeState; prices: PriceSource }) {
  const { log, modes, prices } = parts;
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
}

/** Builds every part from config, wires them and starts listening. The only place parts are connected. */
export async function startTollgate(options: StartOptions = {}): Promise<Tollgate> {
  const loaded = options.loaded ?? loadConfig(options);
  const cfg = loaded.config;
  const log = createLogger({ level: cfg.logLevel, destination: options.logDestination });
  const source = new ConfigSource(loaded, options, log);
  const config = (): Config => source.config;
  const telemetry = options.telemetry ?? Telemetry.off();

  const modes = new ModeState(
    cfg.defaultMode,
    byProvider((p) => cfg.providers[p].mode),
  );
  const circuits = byProvider(
    (p) =>
      new CircuitBreaker(
        () => config().circuit,
        Date.now,
        (state) => log.warn({ provider: p, circuit: state }, `circuit ${state}`),
      ),
  );
  // The proxy enforces the (hot-reloadable) upload cap on every request before the mock reads a byte.
  const mocks = Object.fromEntries(
    providers.map((a) => [a.name, a.createMock(() => config().mock, { maxUploadBytes: Number.MAX_SAFE_INTEGER })]),
  ) as Record<Provider, ProviderMock & { close?(): void }>;
  const upstreams = new Upstreams();
  const prices = priceSource(cfg);
  const meter = new Meter(prices);
  const store =
    options.store ??
    (await createStore(cfg.stateUrl, { log, spoolDir: cfg.stateSpoolDir, timeoutMs: cfg.stateTimeoutMs }));
  await store.open();
  const limiter = new Limiter({
    store,
    config,
    onRejected: (provider, limit) => log.debug({ provider, limit }, 'rate limited'),
  });
  applyReloads(source, { log, modes, prices });

  for (const w of keyFormWarnings(cfg)) log.warn({}, w);
  const probes = new ProviderProbes({ config, mode: (p) => modes.get(p), log });
  /** A provider is up while its circuit is not open and its last probe passed. */
  const providerUp = (p: Provider): boolean =>
    modes.get(p) === 'mock' || (circuits[p].state !== 'open' && probes.up(p));
  const metrics = createMetrics({
    serviceName: cfg.otel.serviceName,
    serviceVersion: VERSION,
    sources: {
      snapshot: () => limiter.snapshot(),
      providerUp,
      circuitOpen: (p) => circuits[p].state === 'open',
      mode: (p) => modes.get(p),
    },
  });
  const observer = callObserver({
    tracer: callTracer(telemetry.active, (p) => config().providers[p as Provider]?.upstreamUrl),
    metrics,
    log,
    onCall: options.onCall,
  });
  const routes = proxyRoutes(
    { config, modes, circuits, upstreams, mocks, limiter, meter, observer, providerHealthy: (p) => probes.up(p) },
    providers,
  );

  const budgets = new BudgetWatch({ limiter, warnRatio: () => config().budgets.warnRatio, log });
  await budgets.refresh();
  budgets.start();
  const checks = healthChecks({
    providers: PROVIDERS,
    probes,
    modes: (p) => modes.get(p),
    circuit: (p) => circuits[p],
    exporter: () => telemetry.exporterStatus(),
    store: () => store.health(),
    storeLatencyMs: () => budgets.storeLatencyMs,
    budgets: () => budgets.budgets,
    warnRatio: () => config().budgets.warnRatio,
    now: Date.now,
  });

  const shapeOf = shapeFor(providers);
  let http: HttpServer | undefined;
  const app = createApp({
    admin: { config: source, modes, store, limiter },
    health: {
      version: VERSION,
      checks,
      ready: () => {
        if (http?.draining) return { ready: false, reason: 'draining' };
        const sh = store.health();
        // A remote store's local fallback keeps serving: only an unusable embedded store is not ready.
        if (sh.status === 'fail' && !sh.degraded) return { ready: false, reason: `state store: ${sh.output}` };
        return { ready: true };
      },
    },
    metrics: () => metrics.render(),
    shapeOf,
    log,
  });

  const host = authority(cfg.host, cfg.port);
  http = new HttpServer(edgeListener({ routes, app, shapeOf, host, log }), clientErrorHandler(shapeOf));
  const server = http.server;
  const port = await http.listen(cfg.port, cfg.host);
  if (options.watch !== false) source.watch();
  // Serving does not wait for the first probes (a slow provider must not delay readiness).
  const firstProbes = probes.start();

  let closing: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown') => {
    closing ??= (async () => {
      const edge = http as HttpServer;
      log.info({ reason, in_flight: edge.inFlight }, 'draining');
      const left = await edge.drain(config().shutdownGraceMs);
      if (left > 0) log.warn({ in_flight: left }, 'grace period over; closing remaining connections');
      source.close();
      for (const m of Object.values(mocks)) m.close?.();
      await probes.stop();
      await upstreams.close();
      budgets.stop();
      await metrics.shutdown();
      await store.close();
      log.info({ reason }, 'stopped');
      log.flush?.();
    })();
    return closing;
  };

  const url = `http://${authority(cfg.host, port)}`;
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
    inFlight: () => http?.inFlight ?? 0,
    shutdown,
  };
}
