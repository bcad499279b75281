import { Hono } from 'hono';
import type { Check, CheckStatus } from './types.js';

export interface HealthDeps {
  version: string;
  /** Every component check, keyed 'openai:upstream', 'state:store', … */
  checks: () => Record<string, Check[]>;
  ready: () => { ready: boolean; reason?: string };
}

const worst = (statuses: CheckStatus[]): CheckStatus =>
  statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'pass';

/** /livez, /readyz and /health. */
export function healthRoutes(deps: HealthDeps): Hono {
  const app = new Hono();
  app.get('/livez', (c) => c.json({ status: 'pass' }));
  app.get('/readyz', (c) => {
    const r = deps.ready();
    return c.json(r.ready ? { status: 'pass' } : { status: 'fail', output: r.reason }, r.ready ? 200 : 503);
  });
  app.get('/health', (c) => {
    const checks = deps.checks();
    const status = worst(Object.values(checks).flatMap((list) => list.map((ch) => ch.overall ?? ch.status)));
    const shown = Object.fromEntries(
      Object.entries(checks).map(([k, list]) => [k, list.map(({ overall: _, ...ch }) => ch)]),
    );
    const body = JSON.stringify({ status, version: deps.version, serviceId: 'tollgate', checks: shown });
    return c.body(body, status === 'fail' ? 503 : 200, {
      'content-type': 'application/health+json',
      'cache-control': 'no-store',
    });
  });
  return app;
}
