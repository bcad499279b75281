import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { CircuitBreaker, type CircuitChange, type CircuitSettings, type CircuitState } from './circuit.js';

describe('CircuitBreaker', () => {
  let now: number;
  let settings: CircuitSettings;
  let changes: CircuitState[];
  let transitions: CircuitChange[];
  let breaker: CircuitBreaker;

  beforeEach(() => {
    now = 1_000_000;
    settings = { failureThreshold: 3, resetMs: 1000 };
    changes = [];
    transitions = [];
    breaker = new CircuitBreaker(
      () => settings,
      () => now,
      (c) => {
        transitions.push(c);
        changes.push(c.to);
      },
    );
  });

  const fail = (n: number) => {
    for (let i = 0; i < n; i++) breaker.failure();
  };

  it('opens at once when tripped by a failed health probe, and says so', () => {
    breaker.trip();
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.openedBy, 'probe');
    assert.deepEqual(changes, ['open']);
    assert.equal(breaker.tryAcquire().allowed, false);
    now += 1000;
    breaker.trip(); // the probe still fails when the reset time came: open again, no second change
    assert.equal(breaker.state, 'open');
    assert.deepEqual(changes, ['open']);
    now += 1000;
    assert.deepEqual(breaker.tryAcquire(), { allowed: true, probe: true });
    breaker.success();
    assert.equal(breaker.openedBy, undefined);
    assert.deepEqual(changes, ['open', 'closed']);
  });

  it('keeps the reset time of a circuit failed calls opened when tripped, and untrip leaves it open', () => {
    fail(3);
    now += 600;
    breaker.trip();
    assert.equal(breaker.openedBy, 'failures');
    assert.equal(breaker.retryAfterMs(), 400);
    breaker.untrip();
    assert.equal(breaker.state, 'open');
  });

  it('closes a circuit the probe tripped once the probe passes again', () => {
    breaker.trip();
    breaker.untrip();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(changes, ['open', 'closed']);
  });

  it('starts closed and admits calls', () => {
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(breaker.tryAcquire(), { allowed: true, probe: false });
    assert.equal(breaker.retryAfterMs(), 0);
  });

  it('stays closed one failure short of the threshold', () => {
    fail(2);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.consecutiveFailures, 2);
    assert.equal(breaker.tryAcquire().allowed, true);
    assert.deepEqual(changes, []);
  });

  it('opens exactly at the threshold of consecutive failures', () => {
    fail(3);
    assert.equal(breaker.state, 'open');
    assert.deepEqual(breaker.tryAcquire(), { allowed: false, probe: false });
    assert.deepEqual(changes, ['open']);
  });

  it('reports open only once while failures keep coming', () => {
    fail(6);
    assert.deepEqual(changes, ['open']);
  });

  it('resets the count on a success', () => {
    fail(2);
    breaker.success();
    assert.equal(breaker.consecutiveFailures, 0);
    fail(2);
    assert.equal(breaker.state, 'closed', 'two plus two non-consecutive failures do not open it');
    breaker.failure();
    assert.equal(breaker.state, 'open');
  });

  it('does not report a change for a success while closed', () => {
    fail(1);
    breaker.success();
    assert.deepEqual(changes, []);
  });

  it('goes from open to half_open after resetMs, not before', () => {
    fail(3);
    now += 999;
    assert.equal(breaker.state, 'open');
    now += 1;
    assert.equal(breaker.state, 'half_open');
  });

  it('admits exactly one probe in half_open', () => {
    fail(3);
    now += 1000;
    assert.deepEqual(breaker.tryAcquire(), { allowed: true, probe: true });
    assert.deepEqual(breaker.tryAcquire(), { allowed: false, probe: false });
    assert.deepEqual(breaker.tryAcquire(), { allowed: false, probe: false });
    now += 60_000;
    assert.deepEqual(breaker.tryAcquire(), { allowed: false, probe: false }, 'still one probe in flight');
  });

  it('closes when the probe succeeds', () => {
    fail(3);
    now += 1000;
    assert.equal(breaker.tryAcquire().probe, true);
    breaker.success();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.consecutiveFailures, 0);
    assert.deepEqual(breaker.tryAcquire(), { allowed: true, probe: false });
    assert.deepEqual(breaker.tryAcquire(), { allowed: true, probe: false });
    assert.deepEqual(changes, ['open', 'closed']);
    assert.deepEqual(
      transitions.map(({ from, to }) => `${from}->${to}`),
      ['closed->open', 'half_open->closed'],
    );
    assert.match(transitions[0]?.why ?? '', /3 consecutive failures/);
  });

  it('reports a failed probe as half_open -> open, with why', () => {
    fail(3);
    now += 1000;
    assert.equal(breaker.tryAcquire().probe, true);
    breaker.failure();
    assert.deepEqual(transitions.at(-1), { from: 'half_open', to: 'open', why: 'the half-open probe failed' });
  });

  it('needs the full threshold again after closing', () => {
    fail(3);
    now += 1000;
    breaker.tryAcquire();
    breaker.success();
    fail(2);
    assert.equal(breaker.state, 'closed');
    breaker.failure();
    assert.equal(breaker.state, 'open');
  });

  it('re-opens with a fresh resetMs when the probe fails', () => {
    fail(3);
    now += 1500;
    assert.equal(breaker.tryAcquire().probe, true);
    breaker.failure();
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.retryAfterMs(), 1000, 'the reset window restarts at the probe failure');
    assert.deepEqual(breaker.tryAcquire(), { allowed: false, probe: false });
    now += 999;
    assert.equal(breaker.state, 'open');
    now += 1;
    assert.equal(breaker.state, 'half_open');
    assert.deepEqual(breaker.tryAcquire(), { allowed: true, probe: true });
  });

  it('frees the probe slot on release(true)', () => {
    fail(3);
    now += 1000;
    assert.equal(breaker.tryAcquire().probe, true);
    breaker.release(true);
    assert.equal(breaker.state, 'half_open');
    assert.deepEqual(breaker.tryAcquire(), { allowed: true, probe: true });
    assert.deepEqual(breaker.tryAcquire(), { allowed: false, probe: false });
  });

  it('keeps the probe slot taken on release(false)', () => {
    fail(3);
    now += 1000;
    assert.equal(breaker.tryAcquire().probe, true);
    breaker.release(false);
    assert.deepEqual(breaker.tryAcquire(), { allowed: false, probe: false });
  });

  it('counts retryAfterMs down to 0 while open', () => {
    fail(3);
    assert.equal(breaker.retryAfterMs(), 1000);
    now += 250;
    assert.equal(breaker.retryAfterMs(), 750);
    now += 700;
    assert.equal(breaker.retryAfterMs(), 50);
    now += 50;
    assert.equal(breaker.retryAfterMs(), 0);
    now += 5000;
    assert.equal(breaker.retryAfterMs(), 0, 'never negative');
  });

  it('applies a changed threshold at once', () => {
    fail(2);
    settings = { ...settings, failureThreshold: 5 };
    breaker.failure();
    assert.equal(breaker.state, 'closed', 'three failures are no longer enough');
    fail(1);
    assert.equal(breaker.state, 'closed');
    breaker.failure();
    assert.equal(breaker.state, 'open');
  });

  it('applies a lowered threshold on the next failure', () => {
    fail(2);
    settings = { ...settings, failureThreshold: 1 };
    assert.equal(breaker.state, 'closed', 'lowering it does not open the circuit by itself');
    breaker.failure();
    assert.equal(breaker.state, 'open');
  });

  it('applies a changed resetMs to a circuit that is already open', () => {
    fail(3);
    now += 500;
    assert.equal(breaker.state, 'open');
    settings = { ...settings, resetMs: 400 };
    assert.equal(breaker.state, 'half_open');
    assert.equal(breaker.retryAfterMs(), 0);
    settings = { ...settings, resetMs: 2000 };
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.retryAfterMs(), 1500);
  });

  it('closes on reset()', () => {
    fail(3);
    breaker.reset();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(breaker.tryAcquire(), { allowed: true, probe: false });
  });

  it('reads the clock it was given, not the wall clock', () => {
    fail(3);
    // Wall-clock time passes in the test, the injected clock does not.
    const start = Date.now();
    while (Date.now() - start < 5);
    assert.equal(breaker.retryAfterMs(), 1000);
  });
});
