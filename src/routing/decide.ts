import type { Mode } from '../config/index.js';
import type { FallbackReason } from './mode.js';

/**
 * Who answers a call, as a value: the mock (with the reason when it stands in for the provider), the
 * provider (`probe` when this call is the circuit's half-open probe), or nobody (REAL mode with the
 * circuit open: the worker gets 503 and a Retry-After).
 * @example decide({ mode: 'hybrid', hasKey: false, ... }) // { serve: 'mock', reason: 'no_api_key' }
 */
export type Decision =
  | { serve: 'mock'; reason: FallbackReason | undefined }
  /** A stored answer: a recording (REPLAY) or the response cache (REAL, HYBRID). */
  | { serve: 'stored'; from: 'replay' | 'cache' }
  /** REPLAY with REPLAY_MISS=error and no recording: 404 cassette_miss. */
  | { serve: 'miss' }
  | { serve: 'real'; probe: boolean }
  | { serve: 'refuse'; retryAfterMs: number };

export interface CircuitGate {
  tryAcquire(): { allowed: boolean; probe: boolean };
  retryAfterMs(): number;
  /** Opens the circuit now (a failed health probe in HYBRID). */
  trip(): void;
}

export interface DecisionInput {
  mode: Mode;
  /** Admission found the budget spent and the call may degrade (HYBRID): the mock answers. */
  budgetExceeded: boolean;
  /** The mock holds the state the call refers to (a job it created during a fallback). */
  mockOwns: boolean;
  /** A key is configured, or the worker's own Authorization is forwarded. */
  hasKey: boolean;
  /**
   * The background health probe's last verdict. In HYBRID a failed probe opens the circuit, so the
   * fallback reason (`circuit_open`), `tollgate_circuit_open` and /health say the same thing.
   */
  healthy: boolean;
  circuit: CircuitGate;
  /** A stored answer for this request was found (a recording in REPLAY, a fresh cache entry otherwise). */
  stored: boolean;
  /** REPLAY_MISS: what a request with no recording gets in REPLAY. */
  replayMiss: 'mock' | 'error';
}

const mock = (reason?: FallbackReason): Decision => ({ serve: 'mock', reason });

/** Decides who answers a call before anything is sent upstream. Takes the circuit's permit when it says 'real'. */
export function decide(input: DecisionInput): Decision {
  const { mode } = input;
  if (mode === 'replay') return replayed(input);
  // A cached answer costs nothing and calls nobody: it is served whatever the provider's state.
  if (input.stored) return { serve: 'stored', from: 'cache' };
  if (input.budgetExceeded) return mock('budget_exceeded');
  if (mode === 'mock' || input.mockOwns) return mock();
  if (mode === 'hybrid' && !input.hasKey) return mock('no_api_key');
  // The probe usually tripped the circuit already (ProviderProbes' onVerdict); a mode switched to HYBRID
  // since the last probe finds it closed, and trips it here, before the fallback is reported.
  if (mode === 'hybrid' && !input.healthy) input.circuit.trip();
  const permit = input.circuit.tryAcquire();
  if (permit.allowed) return { serve: 'real', probe: permit.probe };
  return mode === 'hybrid' ? mock('circuit_open') : { serve: 'refuse', retryAfterMs: input.circuit.retryAfterMs() };
}

/** REPLAY: the recording, else the mock (REPLAY_MISS=mock) or a 404; nothing leaves the machine. */
function replayed(input: DecisionInput): Decision {
  if (input.mockOwns) return mock();
  if (input.stored) return { serve: 'stored', from: 'replay' };
  return input.replayMiss === 'mock' ? mock('replay_miss') : { serve: 'miss' };
}

/**
 * After the provider was tried: whether its failure is answered by the mock instead (HYBRID only).
 * `failure` is the transport failure, or the answer's status class (`upstream_5xx`, `upstream_429`).
 */
export const fallbackAfter = (mode: Mode, failure: FallbackReason): Decision | undefined =>
  mode === 'hybrid' ? mock(failure) : undefined;

/** The status classes HYBRID does not relay: the mock answers instead. */
export const failedStatus = (status: number): FallbackReason | undefined =>
  status >= 500 ? 'upstream_5xx' : status === 429 ? 'upstream_429' : undefined;
