import { type BudgetSnapshot, type Limiter, type WindowKind, windowAt } from '../limits/index.js';
import type { LedgerGroup, ServedBy, Store } from '../state/index.js';

export type ReportWindow = 'hour' | 'day' | 'month';
export const REPORT_WINDOWS: readonly ReportWindow[] = ['hour', 'day', 'month'];
export const GROUP_KEYS = ['provider', 'model', 'served_by', 'operation'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];

const FIELD: Record<GroupKey, keyof LedgerGroup> = {
  provider: 'provider',
  model: 'model',
  served_by: 'servedBy',
  operation: 'operation',
};

interface Totals {
  cost_usd: number;
  requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  pages: number;
  /** What cache hits would have cost at the provider: saved, never spent (present when there were hits). */
  saved_usd?: number;
}

export interface CostReport {
  window: ReportWindow;
  from: string;
  to: string;
  total: Totals & { forecast_usd: number };
  /** `real` and `mock` always; `replay` and `cache` when the window has such calls (`saved_usd` on `cache`). */
  by_served_by: Partial<Record<ServedBy, { cost_usd: number; requests: number; saved_usd?: number }>> &
    Record<'real' | 'mock', { cost_usd: number; requests: number }>;
  groups: (Record<string, string | number> & Totals)[];
  budgets: {
    scope: string;
    window: string;
    limit_usd: number;
    spent_usd: number;
    held_usd: number;
    remaining_usd: number;
    forecast_usd: number;
    from: string;
    to: string;
  }[];
}

/** The contract's window names (`hour`, `day`, `month`, as in the query) for the config's budget windows. */
const WINDOW_NAME: Record<string, ReportWindow> = { hourly: 'hour', daily: 'day', monthly: 'month' };

/** Rounds money for display to a nano-dollar, without float noise. */
const usd = (nano: number) => Math.round(nano) / 1e9;

/** Linear end-of-window forecast: what the window will have cost if spending goes on at the rate so far. */
export function forecast(spent: number, start: number, end: number, now: number): number {
  const elapsed = Math.max(now - start, 60_000);
  const ratio = (end - start) / elapsed;
  return Math.round(spent * Math.max(1, ratio) * 1e9) / 1e9;
}

const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');

/** A budget as the admin answers and the cost report show it (contract section 7's field names). */
export const budgetView = (b: BudgetSnapshot) => ({
  scope: b.scope,
  window: WINDOW_NAME[b.window] ?? b.window,
  limit_usd: b.limitUsd,
  spent_usd: b.spentUsd,
  held_usd: b.heldUsd,
  remaining_usd: b.remainingUsd,
  from: iso(b.windowStart),
  to: iso(b.windowEnd),
});

/**
 * The ledger of the current window (contract section 7, `/admin/costs` and `tollgate costs --json`).
 * `total` covers every row of the window, mock shadow cost included.
 */
export async function costReport(options: {
  store: Store;
  limiter: Limiter;
  window: ReportWindow;
  groupBy?: readonly GroupKey[];
  timeZone: string;
  now?: number;
}): Promise<CostReport> {
  const now = options.now ?? Date.now();
  const win = windowAt(options.window as WindowKind, now, options.timeZone);
  const groups = await options.store.aggregate({ from: win.start, to: win.end });
  const groupBy = options.groupBy ?? ['provider', 'model'];
  const zero = () => ({ cost: 0, requests: 0, input: 0, cached: 0, output: 0, pages: 0, saved: 0 });
  const total = zero();
  const served = { real: zero(), mock: zero(), replay: zero(), cache: zero() };
  const grouped = new Map<string, { key: Record<string, string>; t: ReturnType<typeof zero> }>();
  for (const g of groups) {
    // A cache row's cost column is what the hit saved: it is never spend.
    const cost = g.servedBy === 'cache' ? 0 : g.costNanoUsd;
    const saved = g.servedBy === 'cache' ? g.costNanoUsd : 0;
    for (const t of [total, served[g.servedBy] ?? zero()]) {
      t.cost += cost;
      t.saved += saved;
      t.requests += g.requests;
      t.input += g.inputTokens;
      t.cached += g.cachedInputTokens;
      t.output += g.outputTokens;
      t.pages += g.pages;
    }
    const key = Object.fromEntries(groupBy.map((k) => [k, String(g[FIELD[k]])]));
    const id = JSON.stringify(key);
    let entry = grouped.get(id);
    if (entry === undefined) {
      entry = { key, t: zero() };
      grouped.set(id, entry);
    }
    entry.t.cost += cost;
    entry.t.saved += saved;
    entry.t.requests += g.requests;
    entry.t.input += g.inputTokens;
    entry.t.cached += g.cachedInputTokens;
    entry.t.output += g.outputTokens;
    entry.t.pages += g.pages;
  }
  const totals = (t: ReturnType<typeof zero>): Totals => ({
    cost_usd: usd(t.cost),
    requests: t.requests,
    input_tokens: t.input,
    cached_input_tokens: t.cached,
    output_tokens: t.output,
    pages: t.pages,
    ...(t.saved > 0 ? { saved_usd: usd(t.saved) } : {}),
  });
  const snapshot = await options.limiter.snapshot();
  return {
    window: options.window,
    from: iso(win.start),
    to: iso(win.end),
    total: { ...totals(total), forecast_usd: forecast(usd(total.cost), win.start, win.end, now) },
    by_served_by: {
      real: { cost_usd: usd(served.real.cost), requests: served.real.requests },
      mock: { cost_usd: usd(served.mock.cost), requests: served.mock.requests },
      ...(served.replay.requests > 0
        ? { replay: { cost_usd: usd(served.replay.cost), requests: served.replay.requests } }
        : {}),
      ...(served.cache.requests > 0
        ? { cache: { cost_usd: 0, requests: served.cache.requests, saved_usd: usd(served.cache.saved) } }
        : {}),
    },
    groups: [...grouped.values()]
      .map(({ key, t }) => ({ ...key, ...totals(t) }))
      .sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests),
    budgets: snapshot.budgets.map((b) => ({
      ...budgetView(b),
      forecast_usd: forecast(b.spentUsd, b.windowStart, b.windowEnd, now),
    })),
  };
}

/** One precision for a column of money: 6 decimals when any amount in it is under a cent, else 4. */
const moneyColumn = (values: readonly number[]) => {
  const digits = values.some((n) => n !== 0 && Math.abs(n) < 0.01) ? 6 : 4;
  return (n: number) => `$${n.toFixed(digits)}`;
};

/** The human table of `tollgate costs`. */
export function formatReport(r: CostReport): string {
  // The cost column, the served-by split and the forecast are amounts of one kind: one precision.
  const money = moneyColumn([
    ...r.groups.map((g) => g.cost_usd),
    r.total.cost_usd,
    r.by_served_by.real.cost_usd,
    r.by_served_by.mock.cost_usd,
    r.total.forecast_usd,
  ]);
  const lines: string[] = [];
  lines.push(`Spend for the ${r.window} ${r.from} → ${r.to}`);
  lines.push('');
  const head = ['provider', 'model', 'requests', 'input tok', 'cached', 'output tok', 'pages', 'cost'];
  const rows = r.groups.map((g) => [
    String(g.provider ?? ''),
    String(g.model ?? ''),
    String(g.requests),
    String(g.input_tokens),
    String(g.cached_input_tokens),
    String(g.output_tokens),
    String(g.pages),
    money(g.cost_usd),
  ]);
  rows.push([
    'total',
    '',
    String(r.total.requests),
    String(r.total.input_tokens),
    String(r.total.cached_input_tokens),
    String(r.total.output_tokens),
    String(r.total.pages),
    money(r.total.cost_usd),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  lines.push(fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt));
  lines.push('');
  lines.push(
    `real ${money(r.by_served_by.real.cost_usd)} (${r.by_served_by.real.requests} calls), mock shadow ${money(r.by_served_by.mock.cost_usd)} (${r.by_served_by.mock.requests} calls); end-of-${r.window} forecast ${money(r.total.forecast_usd)}`,
  );
  const { replay, cache } = r.by_served_by;
  if (replay !== undefined) lines.push(`replay shadow ${money(replay.cost_usd)} (${replay.requests} calls)`);
  if (cache !== undefined)
    lines.push(`cache hits ${cache.requests}, saved ${money(cache.saved_usd ?? 0)} at the provider`);
  if (r.budgets.length > 0) {
    lines.push('', 'Budgets');
    const column = (pick: (b: CostReport['budgets'][number]) => number) => {
      const fmt = moneyColumn(r.budgets.map(pick));
      const cells = r.budgets.map((b) => fmt(pick(b)));
      const width = Math.max(...cells.map((c) => c.length));
      return cells.map((c) => c.padStart(width));
    };
    const [limit, spent, held, remaining, forecastCells] = [
      column((b) => b.limit_usd),
      column((b) => b.spent_usd),
      column((b) => b.held_usd),
      column((b) => b.remaining_usd),
      column((b) => b.forecast_usd),
    ];
    r.budgets.forEach((b, i) => {
      lines.push(
        `  ${b.scope.padEnd(12)} ${b.window.padEnd(6)} limit ${limit[i]}  spent ${spent[i]}  held ${held[i]}  remaining ${remaining[i]}  forecast ${forecastCells[i]}`,
      );
    });
  } else {
    lines.push('', 'No budgets configured.');
  }
  return `${lines.join('\n')}\n`;
}
