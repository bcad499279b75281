import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Mode, Provider } from '../config/index.js';
import { Telemetry } from '../telemetry/index.js';
import {
  type BudgetView,
  type Check,
  type ExporterView,
  type HealthParts,
  healthChecks,
  type StoreView,
} from './index.js';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');
const TIME = new Date(NOW).toISOString();

/** An exporter that was never configured, as telemetry reports it. */
const IDLE_EXPORTER: ExporterView = {
  ...Telemetry.off().exporterStatus(),
  configured: false,
  exported: 0,
  failures: 0,
};

const probed = (status: Check['status'], output: string): Check => ({
  componentType: 'component',
  status,
  observedValue: 12.5,
  observedUnit: 'ms',
  time: TIME,
  output,
});

/** Everything healthy, openai in real mode and llamaparse in mock mode; `over` replaces parts. */
function parts(over: Partial<HealthParts> = {}): HealthParts {
  const modes: Record<Provider, Mode> = { openai: 'real', llamaparse: 'mock', anthropic: 'mock' };
  return {
    providers: ['openai', 'llamaparse'],
    probes: { check: () => probed('pass', 'GET /models: HTTP 200') },
    modes: (p) => modes[p],
    circuit: () => ({ state: 'closed', consecutiveFailures: 0 }),
    exporter: () => IDLE_EXPORTER,
    store: (): StoreView => ({ status: 'pass', output: 'memory store' }),
    storeLatencyMs: () => 0.25,
    budgets: () => [],
    warnRatio: () => 0.8,
    now: () => NOW,
    ...over,
  };
}

/** How /health folds the checks into its overall status. */
function overall(checks: Record<string, Check[]>): Check['status'] {
  const statuses = Object.values(checks).flatMap((list) => list.map((c) => c.overall ?? c.status));
  return statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'pass';
}

describe('healthChecks', () => {
  it('reports each provider, the store, and no exporter when none is configured', () => {
    const checks = healthChecks(parts())();
    assert.deepEqual(Object.keys(checks), ['openai:upstream', 'llamaparse:upstream', 'state:store']);
    assert.deepEqual(checks['state:store'], [
      {
        componentType: 'datastore',
        status: 'pass',
        observedValue: 0.25,
        observedUnit: 'ms',
        time: TIME,
        output: 'memory store',
      },
    ]);
    assert.equal(overall(checks), 'pass');
  });

  it('fails a provider in REAL mode while its circuit is open, whatever the probe said', () => {
    const checks = healthChecks(parts({ circuit: () => ({ state: 'open', consecutiveFailures: 5 }) }))();
    const [openai] = checks['openai:upstream']!;
    assert.equal(openai!.status, 'fail');
    assert.equal(openai!.overall, undefined);
    assert.equal(openai!.output, 'circuit open after 5 consecutive failures; GET /models: HTTP 200');
    assert.equal(checks['llamaparse:upstream']![0]!.output, 'GET /models: HTTP 200', 'mock mode ignores the circuit');
    assert.equal(overall(checks), 'fail');
  });

  it('only warns overall for an open circuit in HYBRID mode (the mock answers)', () => {
    const checks = healthChecks(
      parts({ modes: () => 'hybrid', circuit: () => ({ state: 'open', consecutiveFailures: 3 }) }),
    )();
    const [openai] = checks['openai:upstream']!;
    assert.equal(openai!.status, 'warn');
    assert.equal(openai!.overall, 'warn');
    assert.equal(overall(checks), 'warn');

    const failing = healthChecks(
      parts({
        modes: () => 'hybrid',
        probes: { check: () => probed('fail', 'unreachable: ECONNREFUSED') },
        circuit: () => ({ state: 'open', consecutiveFailures: 3 }),
      }),
    )();
    assert.equal(failing['openai:upstream']![0]!.status, 'fail', 'a failing probe keeps its own status');
    assert.equal(overall(failing), 'warn');
  });

  it('warns overall while the store answers from its local fallback', () => {
    const store = (): StoreView => ({ status: 'fail', output: 'redis unreachable; sqlite fallback', degraded: true });
    const checks = healthChecks(parts({ store }))();
    assert.equal(checks['state:store']![0]!.status, 'fail');
    assert.equal(checks['state:store']![0]!.overall, 'warn');
    assert.equal(overall(checks), 'warn');
  });

  it('warns for a budget spent past the warning ratio, one entry per scope under its window', () => {
    const budgets: BudgetView[] = [
      { scope: 'total', window: 'daily', limitUsd: 10, spentUsd: 8 },
      { scope: 'openai', window: 'daily', limitUsd: 4, spentUsd: 1 },
      { scope: 'openai:gpt-4o', window: 'daily', limitUsd: 3, spentUsd: 1 },
      { scope: 'llamaparse', window: 'monthly', limitUsd: 0, spentUsd: 0 },
    ];
    const checks = healthChecks(parts({ budgets: () => budgets }))();
    assert.deepEqual(checks['budget:daily'], [
      {
        componentId: 'total',
        status: 'warn',
        observedValue: 0.8,
        observedUnit: 'ratio of budget spent',
        time: TIME,
        output: '$8.0000 of $10.0000 spent',
      },
    ]);
    assert.equal(checks['budget:daily:openai']![0]!.status, 'pass');
    assert.equal(checks['budget:daily:openai:gpt-4o']![0]!.observedValue, 0.3333);
    assert.equal(checks['budget:monthly:llamaparse']![0]!.status, 'warn', 'a zero budget counts as spent');
    assert.equal(overall(checks), 'warn');
  });

  it('reports a configured exporter, warning while exports fail', () => {
    const exporter: ExporterView = {
      ...IDLE_EXPORTER,
      configured: true,
      endpoint: 'http://collector:4318',
      protocol: 'http/protobuf',
      exported: 42,
      failures: 2,
    };
    const ok = healthChecks(parts({ exporter: () => exporter }))();
    assert.equal(
      ok['telemetry:exporter']![0]!.output,
      'OTLP http/protobuf to http://collector:4318: 42 spans exported',
    );
    assert.equal(ok['telemetry:exporter']![0]!.status, 'pass');
    const failing = healthChecks(
      parts({ exporter: () => ({ ...exporter, consecutiveFailures: 2, lastError: 'ECONNREFUSED' }) }),
    )();
    assert.equal(failing['telemetry:exporter']![0]!.status, 'warn');
    assert.equal(failing['telemetry:exporter']![0]!.output, 'OTLP export failing (2 in a row): ECONNREFUSED');
    assert.equal(failing['telemetry:exporter']![0]!.observedValue, 2);
  });
});
