import type { Config, Provider } from '../config/index.js';
import type { Limiter } from '../limits/index.js';
import type { Meter } from '../metering/index.js';
import type { ProviderMock } from '../providers/index.js';
import type { CircuitBreaker, ModeState } from '../routing/index.js';
import type { ResponseCache } from '../state/index.js';
import type { CallRecord } from './call.js';
import type { Upstreams } from './upstream.js';

/**
 * What the request path reports, and nothing more: telemetry (spans, metrics, log lines) is built
 * from these at the edge, out of the stages. Calls come in this order: `begin`, then for a call the
 * provider answers `upstream` (which returns the traceparent to send) and `upstreamEnd` (reading
 * `call.upstream`), then `end` once, when the answer is complete or abandoned.
 */
export interface CallObserver {
  begin(call: CallRecord, headers: Record<string, string | string[] | undefined>, startTime: number): void;
  upstream(call: CallRecord, method: string, baseUrl: string, path: string): string;
  upstreamEnd(call: CallRecord): void;
  end(call: CallRecord): void;
  /** An unexpected error (never shown to the worker). */
  error(error: unknown, call: CallRecord): void;
}

export interface ProxyDeps {
  config: () => Config;
  modes: ModeState;
  circuits: Record<Provider, CircuitBreaker>;
  upstreams: Upstreams;
  mocks: Record<Provider, ProviderMock>;
  limiter: Limiter;
  meter: Meter;
  observer: CallObserver;
  /** The response cache's store (RESPONSE_CACHE_TTL_S); built beside the state store. */
  cache?: ResponseCache;
  /** False while background health probes say the provider is down (HYBRID treats it as an open circuit). */
  providerHealthy?: (provider: Provider) => boolean;
}
