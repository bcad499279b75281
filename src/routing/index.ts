export { CircuitBreaker, type CircuitChange, type CircuitSettings, type CircuitState } from './circuit.js';
export { type CircuitGate, type Decision, type DecisionInput, decide, failedStatus, fallbackAfter } from './decide.js';
export { type FallbackReason, isMode, isProvider, ModeState } from './mode.js';
