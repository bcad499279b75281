import { Agent, type Dispatcher, request } from 'undici';
import { type Config, type Mode, PROVIDERS, type Provider } from '../config/index.js';
import { providers } from '../providers/index.js';
import type { Check, CheckStatus } from './index.js';

/**
 * Background probes of each provider the sidecar may call (real or hybrid mode).
 *
 * A probe is one cheap, free, authenticated GET: it tells whether the provider answers and
 * whether it accepts the sidecar's key, without spending anything. `/health` shows the result;
 * the router treats a provider whose last probe failed like one with an open circuit (HYBRID
 * answers from the mock at once instead of paying a timeout per request).
 */

interface ProbeSpec {
  /** Path under the provider's upstream base URL. */
  path: string;
  /** The variable holding the key, named in outputs and warnings (never the value). */
  keyVar: string;
  urlVar: string;
  keyPrefix: string;
  label: string;
  /** "an OpenAI key": the key named in a warning. */
  keyNoun: string;
}

/**
 * Free endpoints only; a probe must never be billed.
 * - OpenAI `GET /v1/models`: lists models, costs nothing, needs a valid key.
 * - LlamaCloud `GET /api/v1/projects` (openapi.json of llama-cloud-services:
 *   `list_projects_api_v1_projects_get`, security HTTPBearer): lists the key's projects,
 *   costs no credits, needs a valid key.
 */
const PROBES: Record<Provider, ProbeSpec> = {
  openai: {
    path: '/models',
    keyVar: 'OPENAI_API_KEY',
    urlVar: 'OPENAI_UPSTREAM_URL',
    keyPrefix: 'sk-',
    label: 'OpenAI',
    keyNoun: 'an OpenAI key',
  },
  llamaparse: {
    path: '/api/v1/projects',
    keyVar: 'LLAMA_CLOUD_API_KEY',
    urlVar: 'LLAMAPARSE_UPSTREAM_URL',
    keyPrefix: 'llx-',
    label: 'LlamaCloud',
    keyNoun: 'a LlamaCloud key',
  },
};

/** Enough of an error body to read a code from; the rest is never needed. */
const ERROR_BODY_LIMIT = 16 * 1024;
/** How often the scheduler looks at config, at most: mode, key, URL and interval changes apply this fast. */
const MAX_CADENCE_MS = 1000;
const USER_AGENT = 'tollgate-health-probe';

export interface ProbeRequest {
  url: string;
  headers: Record<string, string>;
  signal: AbortSignal;
}

export interface ProbeResponse {
  status: number;
  /** The start of the body for non-2xx answers (to read the provider's error code); '' otherwise. */
  body: string;
}

/** Sends one probe. Must honour `signal`; the probe gives up at its timeout regardless. */
export type ProbeFetcher = (req: ProbeRequest) => Promise<ProbeResponse>;

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
  readonly #agent: Agent | undefined;
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
    if (options.fetcher) {
      this.#fetcher = options.fetcher;
    } else {
      // Its own small pool: probes never queue behind (or take sockets from) proxied traffic,
      // and keep-alive across ticks keeps a TLS handshake out of most readings.
      const agent = new Agent({
        connections: 2,
        pipelining: 1,
        keepAliveTimeout: 60_000,
        keepAliveMaxTimeout: 120_000,
      });
      this.#agent = agent;
      this.#fetcher = undiciFetcher(agent);
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
    await this.#agent?.close().catch(() => {});
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
    if (mode === 'mock') return { probe: false, status: 'pass', output: 'mock mode: upstream not used', up: true };
    const hasKey = cfg.providers[provider].apiKey !== undefined;
    if (!hasKey && !cfg.forwardClientAuth) {
      if (mode === 'hybrid')
        return { probe: false, status: 'warn', output: 'no API key: served by the mock', up: true };
      return { probe: false, status: 'fail', output: `no API key: ${spec.keyVar} is not set`, up: false };
    }
    return { probe: true, authorized: hasKey };
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
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
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

/** Turns a provider's answer into a check status and an output that never echoes the key. */
function judge(res: ProbeResponse, spec: ProbeSpec, authorized: boolean): [CheckStatus, string] {
  const { status } = res;
  const line = `GET ${spec.path}`;
  if (status >= 200 && status < 300) return ['pass', `${line}: HTTP ${status}`];
  if (status === 401 || status === 403) {
    // Without a sidecar key the workers' own keys go upstream: a refusal here only proves it answers.
    if (!authorized) return ['pass', `${line}: HTTP ${status} (reachable; workers' own keys are forwarded)`];
    const code = errorCodeOf(res.body) ?? (status === 401 ? 'invalid_api_key' : 'forbidden');
    return ['fail', `${code}: the provider rejected ${spec.keyVar} (HTTP ${status})`];
  }
  if (status === 429) {
    const code = errorCodeOf(res.body);
    return ['warn', code ? `rate limited by provider: ${code}` : 'rate limited by provider'];
  }
  if (status >= 500) return ['fail', `HTTP ${status}`];
  if (status === 404) return ['fail', `HTTP 404: ${line} not found; check ${spec.urlVar}`];
  return ['warn', `HTTP ${status} from ${line}`];
}

const CODE_FORM = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The provider's machine-readable error code: OpenAI `{"error":{"code"|"type"}}`, LlamaCloud
 * `{"code"}` or a short `{"detail"}` naming an invalid key. Only code-shaped strings are taken,
 * never a message: OpenAI's message repeats the start of the key it refused.
 */
function errorCodeOf(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  const error = record['error'];
  if (typeof error === 'object' && error !== null) {
    const { code } = error as Record<string, unknown>;
    if (typeof code === 'string' && CODE_FORM.test(code)) return code;
  }
  const code = record['code'];
  if (typeof code === 'string' && CODE_FORM.test(code)) return code;
  const detail = record['detail'];
  if (typeof detail === 'string' && /invalid api key/i.test(detail)) return 'invalid_api_key';
  return undefined;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function isTimeoutError(error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code));
}

/** The system error code of a failed connection (ECONNREFUSED, ENOTFOUND, …), looking through wrappers. */
function errorCode(error: unknown): string {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const e = queue.shift();
    if (typeof e !== 'object' || e === null || seen.has(e)) continue;
    seen.add(e);
    const { code, cause, errors } = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return typeof code === 'string' ? code : typeof name === 'string' ? name : 'unknown error';
}

/** Settles with `work`, or rejects when `signal` aborts: a fetcher that ignores its signal cannot hang a probe. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>(function race(resolve, reject) {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function undiciFetcher(agent: Agent): ProbeFetcher {
  return async function probeRequest({ url, headers, signal }) {
    const res = await request(url, { method: 'GET', headers, signal, dispatcher: agent });
    if (res.statusCode >= 200 && res.statusCode < 300) {
      // Read to the end so the connection goes back to the pool for the next tick.
      await res.body.dump();
      return { status: res.statusCode, body: '' };
    }
    return { status: res.statusCode, body: await readBounded(res.body, ERROR_BODY_LIMIT) };
  };
}

async function readBounded(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break; // leaving the loop destroys the rest of the body
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

/**
 * Warnings about keys that cannot be right: OpenAI keys start with `sk-`, LlamaCloud keys with
 * `llx-`. Each names the variable and what was expected, never the value.
 *
 * @example
 * for (const w of keyFormWarnings(config)) log.warn({}, w);
 */
export function keyFormWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const provider of PROVIDERS) {
    const key = config.providers[provider].apiKey;
    if (key === undefined) continue;
    const spec = PROBES[provider];
    if (/^\s|\s$|^["']|["']$/.test(key)) {
      warnings.push(`${spec.keyVar} has surrounding whitespace or quotes; the provider will reject it as sent`);
    } else if (!key.startsWith(spec.keyPrefix)) {
      warnings.push(`${spec.keyVar} does not look like ${spec.keyNoun}: expected it to start with "${spec.keyPrefix}"`);
    }
  }
  return warnings;
}
