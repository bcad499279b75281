import { callsUpstream, type Provider } from '../config/index.js';
import { type JobRecord, toNano } from '../limits/index.js';
import { emptyUsage, type ProviderAdapter, type Usage } from '../providers/index.js';
import type { LedgerRow } from '../state/index.js';
import { collect } from './body.js';
import type { ProxyDeps } from './deps.js';
import { mockReply, type Reply } from './reply.js';
import { UpstreamAbort } from './upstream.js';

/** How the sidecar settled a job nobody read: the ledger row's operation says so. */
export type SettledBy = 'parse.settled.sidecar' | 'parse.settled.expired';

/** Jobs claimed per sweep, and how long a claim keeps other sidecars off a job. */
const BATCH = 20;
const LEASE_MS = 60_000;
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

export interface JobSettlerOptions {
  /** How often to look for due jobs (default: a tenth of LLAMAPARSE_SETTLE_AFTER_S, 250 ms to 30 s). */
  intervalMs?: number;
  /** Told of every job settled (or found gone), for logs and tests. */
  onSettled?: (record: JobRecord, outcome: SettledBy | 'gone') => void;
  onError?: (error: unknown) => void;
}

type Outcome = { usage: Usage } | 'gone' | 'later';

/**
 * Settles LlamaParse jobs whose result nobody read: once a job is due (LLAMAPARSE_SETTLE_AFTER_S
 * after its upload) a sidecar in REAL mode fetches the job's result metadata with its own key and
 * books what the job reports; a job LlamaCloud no longer knows (404) is booked at its hold when
 * the hold expires. Every sidecar sweeps; a claim in the store keeps two off the same job, and the
 * job's booking id books it once in any case.
 */
export class JobSettler {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    readonly deps: ProxyDeps,
    readonly adapters: readonly ProviderAdapter[],
    readonly options: JobSettlerOptions = {},
  ) {}

  start(): void {
    const every =
      this.options.intervalMs ?? Math.min(30_000, Math.max(250, this.deps.config().parseJobs.settleAfterMs / 10));
    this.#timer = setInterval(() => {
      this.#running ??= this.sweep()
        .catch((e) => this.options.onError?.(e))
        .finally(() => {
          this.#running = undefined;
        });
    }, every);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
  }

  /** One pass: claims the due jobs and settles each. */
  async sweep(): Promise<void> {
    const due = await this.deps.limiter.jobs.claimDue(BATCH, LEASE_MS);
    for (const record of due) {
      if (this.#stopped) return;
      await this.#settle(record).catch((e) => this.options.onError?.(e));
    }
  }

  async #settle(record: JobRecord): Promise<void> {
    const { limiter } = this.deps;
    const adapter = this.adapters.find((a) => a.name === record.provider);
    if (adapter === undefined) return;
    const expired = Date.now() >= record.expiresAt;
    if (expired) {
      await this.#book(adapter, record, holdUsage(record), 'parse.settled.expired');
      return;
    }
    if (record.gone) return;
    const outcome = await this.#fetch(adapter, record);
    if (outcome === 'later') return;
    if (outcome === 'gone') {
      await limiter.jobs.gone(record.bookingId);
      this.options.onSettled?.(record, 'gone');
      return;
    }
    await this.#book(adapter, record, outcome.usage, 'parse.settled.sidecar');
  }

  /** What the job reports, asked of whoever ran it: the provider (with the sidecar's key) or the mock. */
  async #fetch(adapter: ProviderAdapter, record: JobRecord): Promise<Outcome> {
    const path = adapter.jobResultPath?.(record.operation, record.jobId);
    if (path === undefined) return 'later';
    const answer =
      record.servedBy === 'mock' ? await this.#askMock(adapter, record, path) : await this.#ask(adapter, path);
    if (answer === undefined) return 'later';
    if (answer.status === 404) return 'gone';
    if (answer.status !== 200) return 'later';
    let usage: Usage | undefined;
    try {
      usage = adapter.usageFromJson('parse.result.json', JSON.parse(answer.text));
    } catch {
      return 'later';
    }
    // Not finished yet (or nothing reported): ask again after the lease.
    return usage?.reported ? { usage } : 'later';
  }

  /** The provider's answer, while the provider is used (REAL, or HYBRID) with a key; else none yet. */
  async #ask(adapter: ProviderAdapter, path: string): Promise<{ status: number; text: string } | undefined> {
    const cfg = this.deps.config();
    const provider = adapter.name;
    const target = cfg.providers[provider];
    if (!callsUpstream(this.deps.modes.get(provider)) || target.apiKey === undefined) return undefined;
    const res = await this.deps.upstreams.request(
      provider,
      {
        baseUrl: target.upstreamUrl,
        connectTimeoutMs: cfg.upstream.connectTimeoutMs,
        timeoutMs: cfg.upstream.timeoutMs,
      },
      {
        method: 'GET',
        path,
        headers: { ...adapter.authHeaders(target.apiKey), accept: 'application/json', 'accept-encoding': 'identity' },
        body: null,
        abort: new UpstreamAbort(),
      },
    );
    return { status: res.status, text: await textOf(res.body) };
  }

  /** The mock's answer for a job it ran (only the sidecar that ran it knows it: elsewhere it is a 404). */
  async #askMock(adapter: ProviderAdapter, record: JobRecord, path: string) {
    const at = path.indexOf('?');
    const reply = mockReply(
      await this.deps.mocks[adapter.name].handle({
        operation: record.operation.startsWith('parse.v2') ? 'parse.v2.get' : 'parse.result.json',
        method: 'GET',
        path: adapter.mockPath(at === -1 ? path : path.slice(0, at)),
        params: { id: record.jobId },
        query: new URLSearchParams(at === -1 ? '' : path.slice(at + 1)),
        headers: {},
        signal: new AbortController().signal,
        correlationId: record.correlationId,
      }),
    );
    return { status: reply.status, text: await textOf(reply.body) };
  }

  async #book(adapter: ProviderAdapter, record: JobRecord, usage: Usage, settledBy: SettledBy): Promise<void> {
    const { limiter, meter } = this.deps;
    const cost =
      settledBy === 'parse.settled.expired'
        ? { usd: record.holdNano / 1e9, model: record.model }
        : meter.cost(adapter.name, usage, record.model);
    const row: LedgerRow = {
      id: record.bookingId,
      ts: Date.now(),
      correlationId: record.correlationId,
      traceId: record.traceId,
      provider: record.provider,
      operation: settledBy,
      model: usage.tier ?? cost.model ?? record.model,
      servedBy: record.servedBy,
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
      pages: usage.pages,
      costNanoUsd: toNano(cost.usd),
      billable: record.billable,
    };
    await limiter.book(row, { provider: record.provider as Provider, model: record.model, pages: usage.pages });
    this.options.onSettled?.(record, settledBy);
  }
}

async function textOf(body: Reply['body']): Promise<string> {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  const got = await collect(body, MAX_RESULT_BYTES, 'result body closed early');
  if (got.whole === undefined) {
    body.destroy();
    return '';
  }
  return got.whole.toString('utf8');
}

/** An expired job is booked at what it held. */
function holdUsage(record: JobRecord): Usage {
  const usage = emptyUsage();
  usage.pages = record.pages;
  usage.tier = record.model;
  return usage;
}
