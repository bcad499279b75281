// Interim: replaced by health/checks.ts and limits/budget-watch.ts when those land.
import type { Provider } from './config/index.js';
import { PROVIDERS } from './config/index.js';
import type { Check } from './health/index.js';
import type { ProviderProbes } from './health/probes.js';
import type { Limiter } from './limits/limiter.js';
import type { CircuitBreaker, ModeState } from './routing/index.js';
import type { Store } from './state/index.js';
import type { Logger, Telemetry } from './telemetry/index.js';

type Budgets = Awaited<ReturnType<Limiter['snapshot']>>['budgets'];

export class BudgetsSeen {
  budgets: Budgets = [];
  storeLatencyMs = 0;
  #warned = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  constructor(
    readonly limiter: Limiter,
    readonly warnRatio: () => number,
    readonly log: Logger,
  ) {}
  async refresh() {
    try {
      const t0 = performance.now();
      this.budgets = (await this.limiter.snapshot()).budgets;
      this.storeLatencyMs = Math.round((performance.now() - t0) * 100) / 100;
      for (const b of this.budgets) {
        const key = `${b.scope}:${b.window}:${b.windowStart}`;
        if (b.limitUsd > 0 && b.spentUsd / b.limitUsd >= this.warnRatio() && !this.#warned.has(key)) {
          this.#warned.add(key);
          this.log.warn(
            { scope: b.scope, window: b.window, spent_usd: b.spentUsd, limit_usd: b.limitUsd },
            'budget near its limit',
          );
        }
      }
    } catch (err) {
      this.log.warn({ err }, 'budget snapshot failed');
    }
  }
  start() {
    this.#timer = setInterval(() => void this.refresh(), 5000);
    this.#timer.unref();
  }
  stop() {
    clearInterval(this.#timer);
  }
}

export function healthChecks(d: {
  probes: ProviderProbes;
  modes: ModeState;
  circuits: Record<Provider, CircuitBreaker>;
  store: Store;
  telemetry: Telemetry;
  budgets: BudgetsSeen;
  warnRatio: number;
}): Record<string, Check[]> {
  const { probes, modes, circuits, store } = d;
  const time = new Date().toISOString();
  const out: Record<string, Check[]> = {};
  for (const p of PROVIDERS) {
    const check = probes.check(p);
    const mode = modes.get(p);
    if (mode !== 'mock' && circuits[p].state === 'open') {
      check.status = mode === 'real' ? 'fail' : check.status === 'pass' ? 'warn' : check.status;
      if (mode === 'hybrid') check.overall = 'warn';
      check.output = `circuit open after ${circuits[p].consecutiveFailures} consecutive failures; ${check.output ?? ''}`;
    }
    out[`${p}:upstream`] = [check];
  }
  const ex = d.telemetry.exporterStatus();
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
  out['state:store'] = [
    {
      componentType: 'datastore',
      status: sh.status,
      observedValue: d.budgets.storeLatencyMs,
      observedUnit: 'ms',
      time,
      output: sh.output,
      ...(sh.degraded ? { overall: 'warn' as const } : {}),
    },
  ];
  for (const b of d.budgets.budgets) {
    const ratio = b.limitUsd === 0 ? 1 : b.spentUsd / b.limitUsd;
    const key = `budget:${b.window}${b.scope === 'total' ? '' : `:${b.scope}`}`;
    const list = out[key] ?? [];
    out[key] = list;
    list.push({
      componentId: b.scope,
      status: ratio >= d.warnRatio ? 'warn' : 'pass',
      observedValue: Math.round(ratio * 10000) / 10000,
      observedUnit: 'ratio of budget spent',
      time,
      output: `$${b.spentUsd.toFixed(4)} of $${b.limitUsd.toFixed(4)} spent`,
    });
  }
  return out;
}
