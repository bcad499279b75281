import type { ProviderAdapter, RouteSpec } from '../providers/index.js';
import type { ProxyDeps } from './deps.js';
import { type ProxyRoute, proxyHandler } from './handler.js';
import { RouteTable } from './routes.js';

export { type CallRecord, newCall, type UpstreamOutcome } from './call.js';
export type { CallObserver, ProxyDeps } from './deps.js';
export type { ProxyRoute } from './handler.js';
export { JobSettler, type JobSettlerOptions, type SettledBy } from './job-settler.js';
export { type Matched, RouteTable } from './routes.js';
export { Upstreams } from './upstream.js';

const PASSTHROUGH: RouteSpec = {
  operation: 'passthrough',
  method: '*',
  pattern: '/*',
  body: 'stream',
  metered: false,
};

/** Every provider's routes and pass-through as one table of proxy handlers. */
export function proxyRoutes(deps: ProxyDeps, providers: readonly ProviderAdapter[]): RouteTable<ProxyRoute> {
  const table = new RouteTable<ProxyRoute>();
  for (const adapter of providers) {
    table.addAdapter(adapter, (route, path) => proxyHandler(deps, adapter, route, path), PASSTHROUGH);
  }
  return table;
}
