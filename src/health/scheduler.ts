import { type Config, callsUpstream, type Mode, noUpstreamKey, PROVIDERS, type Provider } from '../config/index.js';
import { providers } from '../providers/index.js';
import { errorCode, isTimeoutError } from '../transport.js';
import { type ProbeFetcher, pooledFetcher, untilAborted } from './fetch.js';
import { judge } from './judge.js';
import { PROBES } from './specs.js';
import type { Check, CheckStatus } from './types.js';

/**
 * Background probes of each provider the sidecar may call (real or hybrid mode).
 *
 * A probe is one cheap, free, authenticated GET: it tells whether the provider answers and
 * whether it accepts the sidecar's key, without spending anything. `/health` shows the result;
 * in HYBRID a failed probe opens the provider's circuit (`onVerdict`), so calls are answered by the
 * mock at once instead of paying a timeout each, and say `circuit_open` as the metric and /health do.
 */

/** How often the scheduler looks at config, at most: mode, key, URL and interval changes apply this fast. */
const MAX_CADENCE_MS = 1000;
const USER_AGENT = 'tollgate-health-probe';

export interface ProbeLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface ProviderProbesOptions {
  config: () => Config;
  /**
   * The effective mode of a provider. Defaults to the configured one; pass the router's
   * mode state so a switch through `PUT /admin/mode` applies too.
   */
  mode?: (provider: Provider) => Mode;
  now?: () => number;
  log: ProbeLog;
  /** Replaces the undici client (tests). */
  fetcher?: ProbeFetcher;
  /** Each probe's verdict as it is recorded: the router opens a HYBRID provider's circuit on a failed one. */
  onVerdict?: (provider: Provider, up: boolean) => void;
}

interface ProbeResult {
  status: CheckStatus;
  output: string;
  latencyMs: number;
  at: number;
  /** Upstream URL, key and auth forwarding the probe ran with: a result for other settings is stale. */
  signature: string;
}

interface ProbeState {
  result: ProbeResult | undefined;
  running: Promise<Check> | undefined;
  lastStart: number;
}

type Plan =
  | { probe: true; authorized: boolean }
  | { probe: false; status: CheckStatus; output: string; up: boolean; overall?: CheckStatus };

/**
 * Probes every provider in real or hybrid mode every HEALTH_CHECK_INTERVAL_MS, each probe
 * bounded by HEALTH_CHECK_TIMEOUT_MS, one at a time per provider.
 *
 * @example
 * const probes = new ProviderProbes({ config: () => source.config, mode: (p) => modes.get(p), log });
 * void probes.start();
 * probes.check('openai'); // { status: 'pass', observedValue: 84.2, observedUnit: 'ms', ... }
 * probes.up('openai');    // false while the last probe failed
 * await probes.stop();
 */
export class ProviderProbes {
  readonly #config: () => Config;
  readonly #mode: (provider: Provider) => Mode;
  readonly #now: () => number;
  readonly #log: ProbeLog;
  readonly #fetcher: ProbeFetcher;
  readonly #onVerdict: ((provider: Provider, up: boolean) => void) | undefined;
  /** Releases the default fetcher's connections; nothing to do for an injected one. */
  readonly #closeFetcher: () => Promise<void> = async () => {};
  readonly #states: Record<Provider, ProbeState>;
  /** Aborts probes in flight when stopped, so shutdown never waits for a slow provider. */
  readonly #stopped = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #started = false;

  constructor(options: ProviderProbesOptions) {
    this.#config = options.config;
    this.#mode = options.mode ?? ((provider) => this.#config().providers[provider].mode);
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#onVerdict = options.onVerdict;
    if (options.fetcher) {
      this.#fetcher = options.fetcher;
    } else {
      const pooled = pooledFetcher();
      this.#fetcher = pooled.fetcher;
      this.#closeFetcher = pooled.close;
    }
    this.#states = Object.fromEntries(
      PROVIDERS.map((p) => [p, { result: undefined, running: undefined, lastStart: Number.NEGATIVE_INFINITY }]),
    ) as Record<Provider, ProbeState>;
  }

  /**
   * Probes every provider that needs it now, then keeps probing on schedule.
   * Resolves once that first round has finished (callers may ignore it); never rejects.
   */
  start(): Promise<void> {
    if (this.#started || this.#stopped.signal.aborted) return Promise.resolve();
    this.#started = true;
    const first = this.#tick();
    return Promise.allSettled(first).then(() => undefined);
  }

  /** Resolves once no probe is in flight (tests: let the startup round land before counting upstream hits). */
  async settled(): Promise<void> {
    await Promise.allSettled(PROVIDERS.map((p) => this.#states[p].running));
  }

  /** Stops the schedule, abandons probes in flight and closes the probe connections. */
  async stop(): Promise<void> {
    this.#stopped.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.settled();
    await this.#closeFetcher();
  }

  /** The `<provider>:upstream` health check as of the last probe. */
  check(provider: Provider): Check {
    const plan = this.#plan(provider, this.#config());
    if (!plan.probe) {
      return {
        componentType: 'component',
        status: plan.status,
        observedUnit: 'ms',
        time: new Date(this.#now()).toISOString(),
        output: plan.output,
        ...(plan.overall ? { overall: plan.overall } : {}),
      };
    }
    const result = this.#current(provider);
    if (result === undefined) {
      return {
        componentType: 'component',
        status: 'warn',
        observedUnit: 'ms',
        time: new Date(this.#now()).toISOString(),
        output: 'not probed yet',
      };
    }
    // In hybrid mode the mock answers while the provider is down: degraded, not unavailable.
    const overall = result.status === 'fail' && this.#mode(provider) === 'hybrid' ? 'warn' : undefined;
    return {
      componentType: 'component',
      status: result.status,
      observedValue: result.latencyMs,
      observedUnit: 'ms',
      time: new Date(result.at).toISOString(),
      output: result.output,
      ...(overall ? { overall } : {}),
    };
  }

  /** False while the last probe (for the settings in force) failed. Unknown counts as up. */
  up(provider: Provider): boolean {
    const plan = this.#plan(provider, this.#config());
    if (!plan.probe) return plan.up;
    return this.#current(provider)?.status !== 'fail';
  }

  /** Probes now (or joins the probe in flight) and returns the resulting check. Not probed in mock mode. */
  probeNow(provider: Provider): Promise<Check> {
    const state = this.#states[provider];
    if (state.running) return state.running;
    if (!this.#plan(provider, this.#config()).probe) return Promise.resolve(this.check(provider));
    return this.#run(provider);
  }

  /** The last result, unless it was taken with other settings (a reloaded key or URL). */
  #current(provider: Provider): ProbeResult | undefined {
    const result = this.#states[provider].result;
    return result?.signature === signature(provider, this.#config()) ? result : undefined;
  }

  #plan(provider: Provider, cfg: Config): Plan {
    const mode = this.#mode(provider);
    const spec = PROBES[provider];
    if (!callsUpstream(mode))
      return { probe: false, status: 'pass', output: `${mode} mode: upstream not used`, up: true };
    if (noUpstreamKey(cfg, provider)) {
      if (mode === 'hybrid')
        return { probe: false, status: 'warn', output: 'no API key: served by the mock', up: true };
      return { probe: false, status: 'fail', output: `no API key: ${spec.keyVar} is not set`, up: false };
    }
    return { probe: true, authorized: cfg.providers[provider].apiKey !== undefined };
  }

  /** One scheduler step: starts the probes that are due, then schedules the next step. */
  #tick(): Promise<Check>[] {
    if (this.#stopped.signal.aborted) return [];
    const cfg = this.#config();
    const interval = cfg.health.intervalMs;
    const cadence = Math.min(interval, MAX_CADENCE_MS);
    const started: Promise<Check>[] = [];
    for (const provider of PROVIDERS) {
      const state = this.#states[provider];
      if (!this.#plan(provider, cfg).probe) {
        // A provider switched back from mock starts from "not probed yet", not from an old reading.
        state.result = undefined;
        continue;
      }
      if (state.running) continue; // no overlap: a slow probe makes this tick skip the provider
      // Timers may fire a hair early relative to a probe started by probeNow(); a little slack
      // keeps a probe from slipping a whole cadence step.
      const due = this.#now() - state.lastStart >= interval - cadence / 10;
      if (due || this.#current(provider) === undefined) started.push(this.#run(provider));
    }
    this.#timer = setTimeout(() => void this.#tick(), cadence);
    this.#timer.unref();
    return started;
  }

  #run(provider: Provider): Promise<Check> {
    const state = this.#states[provider];
    state.lastStart = this.#now();
    const running = this.#probe(provider)
      .then((result) => {
        if (result !== undefined && !this.#stopped.signal.aborted) this.#record(provider, result);
        return this.check(provider);
      })
      .finally(() => {
        state.running = undefined;
      });
    state.running = running;
    return running;
  }

  #record(provider: Provider, result: ProbeResult): void {
    const state = this.#states[provider];
    const before = state.result;
    state.result = result;
    this.#onVerdict?.(provider, result.status !== 'fail');
    if (before?.status === result.status && before.output === result.output) return;
    const fields = { provider, status: result.status, output: result.output, latency_ms: result.latencyMs };
    if (result.status === 'pass') this.#log.info(fields, `${PROBES[provider].label} probe passing`);
    else this.#log.warn(fields, `${PROBES[provider].label} probe ${result.status === 'fail' ? 'failing' : 'degraded'}`);
  }

  /** Runs one probe with the settings in force now; undefined when abandoned by stop(). */
  async #probe(provider: Provider): Promise<ProbeResult | undefined> {
    const cfg = this.#config();
    const plan = this.#plan(provider, cfg);
    if (!plan.probe) return undefined;
    const spec = PROBES[provider];
    const pcfg = cfg.providers[provider];
    const timeoutMs = cfg.health.timeoutMs;
    const sig = signature(provider, cfg);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT, ...spec.headers };
    const adapter = providers.find((a) => a.name === provider);
    if (plan.authorized && pcfg.apiKey !== undefined && adapter)
      Object.assign(headers, adapter.authHeaders(pcfg.apiKey));

    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([timeout, this.#stopped.signal]);
    const started = performance.now();
    const finish = (status: CheckStatus, output: string): ProbeResult => ({
      status,
      output,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
      at: this.#now(),
      signature: sig,
    });
    try {
      const res = await untilAborted(this.#fetcher({ url: pcfg.upstreamUrl + spec.path, headers, signal }), signal);
      const [status, output] = judge(res, spec, plan.authorized);
      return finish(status, output);
    } catch (error) {
      if (this.#stopped.signal.aborted) return undefined;
      if (timeout.aborted || isTimeoutError(error)) return finish('fail', `timed out after ${timeoutMs} ms`);
      return finish('fail', `unreachable: ${errorCode(error)}`);
    }
  }
}

/** A key is never shown; what tells a result apart is enough. */
function signature(provider: Provider, cfg: Config): string {
  const p = cfg.providers[provider];
  return `${p.upstreamUrl}\n${p.apiKey ?? ''}\n${cfg.forwardClientAuth}`;
}
