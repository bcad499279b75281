import { callsUpstream, type Mode, type Provider, strictUpstream } from '../config/index.js';
import type { ExporterStatus } from '../telemetry/index.js';
import type { Check, CheckStatus } from './types.js';

/** What /health reads of a provider's circuit breaker. */
export interface CircuitView {
  state: string;
  consecutiveFailures: number;
  /** What opened it: failed calls, or a failed health probe (HYBRID). */
  openedBy?: 'failures' | 'probe' | undefined;
}

/** What /health reads of the OTLP exporter. */
export type ExporterView = Pick<
  ExporterStatus,
  'configured' | 'endpoint' | 'protocol' | 'exported' | 'failures' | 'consecutiveFailures' | 'lastError'
>;

/** What /health reads of the state store (the store's StoreHealth). */
export interface StoreView {
  status: CheckStatus;
  output: string;
  /** A remote store answering from its local fallback. */
  degraded?: boolean;
  /** A remote store's spool folder (`state:spool`); absent for embedded stores. */
  spooled?: readonly SpoolView[] | undefined;
}

/** What /health reads of a remote store's spool folder: unreplayed rows per store they belong to. */
export interface SpoolView {
  /** `redis://host:port/db`, or null for an old spool file's rows (they do not name their store). */
  store: string | null;
  prefix: string;
  rows: number;
  costNanoUsd: number;
}

/** What /health reads of one budget (an entry of the limiter's snapshot). */
export interface BudgetView {
  scope: string;
  window: string;
  limitUsd: number;
  spentUsd: number;
}

/** The parts /health reports on, each read anew on every request. */
export interface HealthParts {
  providers: readonly Provider[];
  /** The `<provider>:upstream` check as of the last probe (ProviderProbes). */
  probes: { check(provider: Provider): Check };
  /** The effective mode of a provider (the router's, so admin switches count). */
  modes: (provider: Provider) => Mode;
  circuit: (provider: Provider) => CircuitView;
  exporter: () => ExporterView;
  store: () => StoreView;
  /** How long the last store round trip took, in ms. */
  storeLatencyMs: () => number;
  /** The budgets as of the last snapshot. */
  budgets: () => readonly BudgetView[];
  /** The share of a budget spent from which it warns (BUDGET_WARN_RATIO). */
  warnRatio: () => number;
  now: () => number;
}

/**
 * Builds the /health component map: one `<provider>:upstream` check per provider, the OTLP
 * exporter when configured, the state store, and one entry per budget under `budget:<window>[:<scope>]`.
 *
 * @example
 * healthRoutes({ version, ready, checks: healthChecks({ providers: PROVIDERS, probes, modes: (p) => modes.get(p), … }) });
 */
export function healthChecks(parts: HealthParts): () => Record<string, Check[]> {
  return function checks() {
    const time = new Date(parts.now()).toISOString();
    const out: Record<string, Check[]> = {};
    for (const p of parts.providers) {
      out[`${p}:upstream`] = [upstreamCheck(parts.probes.check(p), parts.modes(p), parts.circuit(p))];
    }
    const exporter = parts.exporter();
    if (exporter.configured) out['telemetry:exporter'] = [exporterCheck(exporter, time)];
    const store = parts.store();
    out['state:store'] = [storeCheck(store, parts.storeLatencyMs(), time)];
    if (store.spooled !== undefined) out['state:spool'] = [spoolCheck(store.spooled, time)];
    const warnRatio = parts.warnRatio();
    for (const b of parts.budgets()) {
      const key = `budget:${b.window}${b.scope === 'total' ? '' : `:${b.scope}`}`;
      out[key] = [...(out[key] ?? []), budgetCheck(b, warnRatio, time)];
    }
    return out;
  };
}

/** The probe's check, overridden by an open circuit: in REAL mode that fails the provider whatever the probe said. */
export function upstreamCheck(probed: Check, mode: Mode, circuit: CircuitView): Check {
  if (!callsUpstream(mode) || circuit.state !== 'open') return probed;
  // REAL: calls fail with 503; HYBRID: the mock answers, so it only degrades the sidecar.
  const check: Check = { ...probed };
  check.status = strictUpstream(mode) ? 'fail' : probed.status === 'pass' ? 'warn' : probed.status;
  if (mode === 'hybrid') check.overall = 'warn';
  const why =
    circuit.openedBy === 'probe'
      ? 'circuit open: the health probe failed'
      : `circuit open after ${circuit.consecutiveFailures} consecutive failures`;
  check.output = `${why}; ${probed.output ?? ''}`;
  return check;
}

function exporterCheck(ex: ExporterView, time: string): Check {
  const failing = ex.consecutiveFailures !== 0;
  return {
    componentType: 'component',
    status: failing ? 'warn' : 'pass',
    observedValue: ex.failures,
    observedUnit: 'failed exports',
    time,
    output: failing
      ? `OTLP export failing (${ex.consecutiveFailures} in a row): ${ex.lastError ?? 'unknown error'}`
      : `OTLP ${ex.protocol} to ${ex.endpoint}: ${ex.exported} spans exported`,
  };
}

/** A remote store on its local fallback fails its own check but only warns overall (contract §6). */
function storeCheck(sh: StoreView, latencyMs: number, time: string): Check {
  return {
    componentType: 'datastore',
    status: sh.status,
    observedValue: latencyMs,
    observedUnit: 'ms',
    time,
    output: sh.output,
    ...(sh.degraded ? { overall: 'warn' as const } : {}),
  };
}

/**
 * Ledger rows waiting on local disk for their store (contract section 6): money missing from a
 * ledger until they are replayed, so any warns, whichever store they belong to.
 */
function spoolCheck(spooled: readonly SpoolView[], time: string): Check {
  const rows = spooled.reduce((n, s) => n + s.rows, 0);
  const each = spooled.map(
    (s) => `${s.store ?? 'unknown store'} prefix ${s.prefix}: ${s.rows} rows, $${(s.costNanoUsd / 1e9).toFixed(6)}`,
  );
  return {
    componentType: 'datastore',
    status: rows === 0 ? 'pass' : 'warn',
    observedValue: rows,
    observedUnit: 'unreplayed rows',
    time,
    output: rows === 0 ? 'no unreplayed ledger rows' : `unreplayed ledger rows: ${each.join('; ')}`,
  };
}

/** A spent budget is an operating state (calls get 429 or the mock), not a broken sidecar: it warns. */
function budgetCheck(b: BudgetView, warnRatio: number, time: string): Check {
  const ratio = b.limitUsd === 0 ? 1 : b.spentUsd / b.limitUsd;
  return {
    componentId: b.scope,
    status: ratio >= warnRatio ? 'warn' : 'pass',
    observedValue: Math.round(ratio * 10000) / 10000,
    observedUnit: 'ratio of budget spent',
    time,
    output: `$${b.spentUsd.toFixed(4)} of $${b.limitUsd.toFixed(4)} spent`,
  };
}
