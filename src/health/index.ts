/**
 * The health folder's public face: /livez, /readyz and /health, the component checks behind
 * /health, and the background provider probes.
 */
export {
  type BudgetView,
  type CircuitView,
  type ExporterView,
  type HealthParts,
  healthChecks,
  type SpoolView,
  type StoreView,
  upstreamCheck,
} from './checks.js';
export type { ProbeFetcher, ProbeRequest, ProbeResponse } from './fetch.js';
export { keyFormWarnings } from './keys.js';
export { type HealthDeps, healthRoutes } from './routes.js';
export { type ProbeLog, ProviderProbes, type ProviderProbesOptions } from './scheduler.js';
export type { Check, CheckStatus } from './types.js';
export { Warmup, type WarmupLog, type WarmupParts } from './warmup.js';
