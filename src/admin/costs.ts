import type { Context } from 'hono';
import { invalidRequest } from '../errors.js';
import type { Limiter } from '../limits/index.js';
import { costReport, GROUP_KEYS, type GroupKey, REPORT_WINDOWS, type ReportWindow } from '../metering/index.js';
import type { Store } from '../state/index.js';

export interface CostsDeps {
  store: Store;
  limiter: Limiter;
  timeZone: () => string;
}

/** The `group_by` query: known keys only, default provider,model. */
function groupByOf(query: string | undefined): GroupKey[] {
  const groupBy = (query ?? 'provider,model')
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  const bad = groupBy.filter((g) => !(GROUP_KEYS as readonly string[]).includes(g));
  if (bad.length > 0) throw invalidRequest(`group_by accepts ${GROUP_KEYS.join(', ')}`, 'group_by');
  return groupBy as GroupKey[];
}

/** GET /admin/costs?window=hour|day|month&group_by=…: spend in the current window, grouped. */
export function getCosts({ store, limiter, timeZone }: CostsDeps) {
  return async function getCosts(c: Context) {
    const window = (c.req.query('window') ?? 'day') as ReportWindow;
    if (!REPORT_WINDOWS.includes(window)) throw invalidRequest('window must be hour, day or month', 'window');
    const groupBy = groupByOf(c.req.query('group_by'));
    return c.json(await costReport({ store, limiter, window, groupBy, timeZone: timeZone() }));
  };
}
