import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { DestinationStream } from 'pino';
import { createApp } from './app.js';
import {
  type Config,
  ConfigError,
  ConfigSource,
  callsUpstream,
  type Loaded,
  type LoadOptions,
  loadConfig,
  logWarning,
  maskUrlCredentials,
  PROVIDERS,
  type Provider,
} from './config/index.js';
import { authority, clientErrorHandler, edgeListener, HttpServer, shapeFor } from './edge/index.js';
import { healthChecks, keyFormWarnings, ProviderProbes, Warmup } from './health/index.js';
import { BudgetWatch, Limiter } from './limits/index.js';
import { Meter, PriceSource, PriceTableError } from './metering/index.js';
import type { ProviderMock } from './providers/index.js';
import { providers } from './providers/index.js';
import { type CallRecord, JobSettler, proxyRoutes, Upstreams } from './proxy/index.js';
import { CircuitBreaker, type CircuitChange, ModeState } from './routing/index.js';
import { createResponseCache, createStore, MemoryCache, type Store } from './state/index.js';
import {
  callObserver,
  callTracer,
  createLogger,
  createMetrics,
  type Logger,
  logWritten,
  Telemetry,
} from './telemetry/index.js';

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
  /** One more warm-up step readiness waits for (tests: a slow one, to watch /readyz answer `warming`). */
  warmStep?: () => Promise<void>;
  /** The pid file the process writes once it takes SIGHUP (named in the listening line). */
  pidFile?: string;
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
  /** Resolves once the hot path is warm and /readyz answers 200 (unless draining or the store is unusable). */
  warmed: Promise<void>;
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

/** The parts every request path and route reads, built from the config once. */
async function buildCore(options: StartOptions) {
  const loaded = options.loaded ?? loadConfig(options);
  const cfg = loaded.config;
  const log = createLogger({ level: cfg.logLevel, destination: options.logDestination });
  for (const w of loaded.warnings) logWarning(log, w);
  const source = new ConfigSource(loaded, options, log);
  const config = (): Config => source.config;
  const modes = new ModeState(
    cfg.defaultMode,
    byProvider((p) => cfg.providers[p].mode),
  );
  const onCircuit = (p: Provider) => (c: CircuitChange) =>
    log.warn(
      { provider: p, from: c.from, to: c.to, circuit: c.to, why: c.why },
      `${p} circuit ${c.from} -> ${c.to}: ${c.why}`,
    );
  const circuits = byProvider((p) => new CircuitBreaker(() => config().circuit, Date.now, onCircuit(p)));
  // The proxy enforces the (hot-reloadable) upload cap on every request before the mock reads a byte.
  const mocks = Object.fromEntries(
    providers.map((a) => [a.name, a.createMock(() => config().mock, { maxUploadBytes: Number.MAX_SAFE_INTEGER })]),
  ) as Record<Provider, ProviderMock & { close?(): void }>;
  const prices = priceSource(cfg);
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
  return { loaded, log, source, config, modes, circuits, mocks, prices, meter: new Meter(prices), store, limiter };
}

type Core = Awaited<ReturnType<typeof buildCore>>;

/** What watches the parts: provider probes, metrics, the budget watch, and the call observer. */
async function buildWatchers(core: Core, options: StartOptions, telemetry: Telemetry) {
  const { config, modes, circuits, log, limiter } = core;
  for (const w of keyFormWarnings(config())) log.warn({}, w);
  for (const w of telemetry.warnings) log.warn({}, w);
  // In HYBRID a failed probe opens the circuit: the fallback reason, the metric and /health agree.
  const onVerdict = (p: Provider, up: boolean) => {
    if (up) circuits[p].untrip();
    else if (modes.get(p) === 'hybrid') circuits[p].trip();
  };
  const probes = new ProviderProbes({ config, mode: (p) => modes.get(p), log, onVerdict });
  /** A provider is up while its circuit is not open and its last probe passed. */
  const providerUp = (p: Provider): boolean =>
    !callsUpstream(modes.get(p)) || (circuits[p].state !== 'open' && probes.up(p));
  const metrics = createMetrics({
    serviceName: config().otel.serviceName,
    serviceVersion: VERSION,
    readers: telemetry.metricReaders,
    sources: {
      snapshot: () => limiter.snapshot(),
      providerUp,
      circuitOpen: (p) => circuits[p].state === 'open',
      mode: (p) => modes.get(p),
    },
  });
  telemetry.meter(metrics.meterProvider);
  const observer = callObserver({
    tracer: callTracer(telemetry.active, (p) => config().providers[p as Provider]?.upstreamUrl, telemetry.enterCall),
    metrics,
    log,
    onCall: options.onCall,
  });
  const budgets = new BudgetWatch({ limiter, warnRatio: () => config().budgets.warnRatio, log });
  await budgets.refresh();
  budgets.start();
  return { probes, metrics, observer, budgets };
}

type Watchers = Awaited<ReturnType<typeof buildWatchers>>;

/** /health's component checks, from the parts they report on. */
function checksOf(core: Core, watchers: Watchers, telemetry: Telemetry) {
  const { modes, circuits, store, config } = core;
  const { probes, budgets } = watchers;
  return healthChecks({
    providers: PROVIDERS,
    probes,
    modes: (p) => modes.get(p),
    circuit: (p) => circuits[p],
    exporter: () => telemetry.exporterStatus(),
    store: () => ({ ...store.health(), spooled: store.spooled?.() }),
    storeLatencyMs: () => budgets.storeLatencyMs,
    budgets: () => budgets.budgets,
    warnRatio: () => config().budgets.warnRatio,
    now: Date.now,
  });
}

/**
 * Ready once warm (contract section 7), unless draining or the embedded store is unusable (a remote
 * store's fallback keeps serving).
 */
function readiness(store: Store, warmup: Warmup, draining: () => boolean) {
  return () => {
    if (draining()) return { ready: false, reason: 'draining' };
    const sh = store.health();
    if (sh.status === 'fail' && !sh.degraded) return { ready: false, reason: `state store: ${sh.output}` };
    return warmup.status();
  };
}

/**
 * Every part built and connected, and the request listener in front of them: a test can drive the
 * proxy through `listener` without a socket. `close()` stops what runs in the background.
 */
export async function assemble(options: StartOptions = {}) {
  const telemetry = options.telemetry ?? Telemetry.off();
  const core = await buildCore(options);
  const watchers = await buildWatchers(core, options, telemetry);
  const { config, modes, circuits, mocks, limiter, meter, store, source, log } = core;
  const upstreams = new Upstreams();
  const cfg = config();
  // The response cache lives beside the state: shared by the fleet on Redis, local otherwise.
  const cache =
    options.store?.kind === 'memory'
      ? new MemoryCache({ maxEntries: cfg.responseCache.maxEntries })
      : await createResponseCache(cfg.stateUrl, {
          maxEntries: cfg.responseCache.maxEntries,
          timeoutMs: cfg.stateTimeoutMs,
        });
  const proxyDeps = {
    cache,
    config,
    modes,
    circuits,
    upstreams,
    mocks,
    limiter,
    meter,
    observer: watchers.observer,
    providerHealthy: (p: Provider) => watchers.probes.up(p),
  };
  const routes = proxyRoutes(proxyDeps, providers);
  const jobs = new JobSettler(proxyDeps, providers, {
    onSettled: (job, how) => log.info({ event: 'parse_job_settled', job: job.jobId, how }, 'parse job settled'),
    onError: (e) => log.warn({ err: e }, 'parse job settlement failed; retried on the next sweep'),
  });
  jobs.start();
  // Ready means warm: the server listens meanwhile, /readyz answers `warming`.
  const { prices } = core;
  const warmup = new Warmup({ providers, models: (p) => prices.current.models(p), store, log, step: options.warmStep });
  const warmed = warmup.start();
  source.on('change', () => void warmup.refresh());
  const shapeOf = shapeFor(providers);
  let draining = false;
  const app = createApp({
    admin: { config: source, modes, store, limiter, log },
    health: {
      version: VERSION,
      checks: checksOf(core, watchers, telemetry),
      ready: readiness(store, warmup, () => draining),
    },
    metrics: () => watchers.metrics.render(),
    shapeOf,
    log,
  });
  const host = authority(config().host, config().port);
  const close = async () => {
    source.close();
    warmup.stop();
    for (const m of Object.values(mocks)) m.close?.();
    await watchers.probes.stop();
    await jobs.stop();
    await upstreams.close();
    watchers.budgets.stop();
    await watchers.metrics.shutdown();
    await store.close();
    await cache.close();
  };
  return {
    ...core,
    ...watchers,
    listener: edgeListener({ routes, app, shapeOf, host, log }),
    clientError: clientErrorHandler(shapeOf),
    warmed,
    drain: () => {
      draining = true;
    },
    close,
  };
}

/** The spans of the drained calls get what is left of the grace period; what could not be sent is logged. */
async function flushTelemetry(telemetry: Telemetry | undefined, remainingMs: number, log: Logger): Promise<void> {
  if (telemetry === undefined) return;
  const { finished, droppedSpans } = await telemetry.shutdown(Math.max(0, remainingMs));
  const endpoint = telemetry.exporterStatus().endpoint;
  if (!finished)
    log.warn({ dropped_spans: droppedSpans, endpoint }, 'telemetry flush cut short by the grace period; spans dropped');
  else if (droppedSpans > 0)
    log.warn({ dropped_spans: droppedSpans, endpoint }, 'telemetry flush failed; spans dropped');
}

/** Builds every part (assemble), starts listening and the probes, and returns the handle that drains it. */
export async function startTollgate(options: StartOptions = {}): Promise<Tollgate> {
  const parts = await assemble(options);
  const { log, config, source, loaded, modes } = parts;
  const http = new HttpServer(parts.listener, parts.clientError);
  const port = await http.listen(config().port, config().host);
  if (options.watch !== false) source.watch();
  // Serving does not wait for the first probes (a slow provider must not delay readiness).
  const firstProbes = parts.probes.start();
  let closing: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown') => {
    closing ??= (async () => {
      const started = performance.now();
      const grace = config().shutdownGraceMs;
      parts.drain();
      log.info({ reason, in_flight: http.inFlight }, 'draining');
      const left = await http.drain(grace);
      if (left > 0) log.warn({ in_flight: left }, 'grace period over; closing remaining connections');
      await parts.close();
      await flushTelemetry(options.telemetry, grace - (performance.now() - started), log);
      // The last line before exit: everything above, the spans' fate included, is already logged.
      log.info({ reason }, 'stopped');
      // The log stream is asynchronous: the process may exit right after, so wait until it wrote everything.
      await logWritten(log);
    })();
    return closing;
  };
  const url = `http://${authority(config().host, port)}`;
  const cfg = config();
  log.info(
    {
      url,
      pid: process.pid,
      pid_file: options.pidFile ?? null,
      version: VERSION,
      env_file: loaded.envFile ?? null,
      config_file: cfg.configFile ?? null,
      prices_file: cfg.pricesFile ?? null,
      default_mode: modes.snapshot().default,
      modes: modes.snapshot().providers,
      store: maskUrlCredentials(cfg.stateUrl),
    },
    'tollgate listening',
  );
  return {
    url,
    port,
    server: http.server,
    config: source,
    modes,
    circuits: parts.circuits,
    log,
    store: parts.store,
    limiter: parts.limiter,
    probes: parts.probes,
    firstProbes,
    warmed: parts.warmed,
    inFlight: () => http.inFlight,
    shutdown,
  };
}
