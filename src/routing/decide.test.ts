import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CircuitGate, type DecisionInput, decide } from './decide.js';

/** A circuit that says whether it allows the call, and counts the permits taken. */
const circuit = (allowed: boolean) => {
  const gate = {
    taken: 0,
    tryAcquire() {
      gate.taken += 1;
      return { allowed, probe: false };
    },
    retryAfterMs: () => 1000,
    trip() {},
  };
  return gate satisfies CircuitGate & { taken: number };
};

const input = (over: Partial<DecisionInput>): DecisionInput => ({
  mode: 'real',
  budgetExceeded: false,
  mockOwns: false,
  hasKey: true,
  healthy: true,
  circuit: circuit(true),
  stored: false,
  replayMiss: 'mock',
  ...over,
});

describe('decide with recordings and the cache', () => {
  it('replays a recording, and answers a miss per REPLAY_MISS, never calling the provider', () => {
    const gate = circuit(true);
    assert.deepEqual(decide(input({ mode: 'replay', stored: true, circuit: gate })), {
      serve: 'stored',
      from: 'replay',
    });
    assert.deepEqual(decide(input({ mode: 'replay', circuit: gate })), { serve: 'mock', reason: 'replay_miss' });
    assert.deepEqual(decide(input({ mode: 'replay', replayMiss: 'error', circuit: gate })), { serve: 'miss' });
    assert.equal(gate.taken, 0, 'no circuit permit taken in REPLAY');
  });

  it('leaves a job the mock owns to the mock in REPLAY', () => {
    assert.deepEqual(decide(input({ mode: 'replay', mockOwns: true })), { serve: 'mock', reason: undefined });
  });

  it('serves a cached answer whatever the circuit or the budget, without taking a permit', () => {
    const gate = circuit(false);
    assert.deepEqual(decide(input({ stored: true, circuit: gate })), { serve: 'stored', from: 'cache' });
    assert.deepEqual(decide(input({ mode: 'hybrid', stored: true, budgetExceeded: true })), {
      serve: 'stored',
      from: 'cache',
    });
    assert.equal(gate.taken, 0);
  });

  it('forwards in RECORD as in REAL: a refused circuit is a refusal, never the mock', () => {
    assert.deepEqual(decide(input({ mode: 'record' })), { serve: 'real', probe: false });
    assert.deepEqual(decide(input({ mode: 'record', circuit: circuit(false) })), {
      serve: 'refuse',
      retryAfterMs: 1000,
    });
    assert.deepEqual(decide(input({ mode: 'record', hasKey: false })), { serve: 'real', probe: false });
  });
});
