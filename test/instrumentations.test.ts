/**
 * The auto-instrumentations the sidecar runs (OTEL_NODE_ENABLED_INSTRUMENTATIONS): runtime-node
 * metrics on /metrics by default, ioredis spans under the call that made the commands, and http /
 * undici refused with a log line. The sidecars are child processes started the way `npm start`
 * starts them (the built entry, the telemetry preload).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type ChildTollgate, startChildTollgate, waitReady } from './support/child.js';
import { attr, type OtlpReceiver, type OtlpSpan, startOtlpReceiver } from './support/otlp.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { until } from './support/tollgate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const redisMissing = spawnSync('redis-server', ['--version']).error !== undefined;
if (redisMissing && process.env.CI === 'true') throw new Error('redis-server is not on PATH (required when CI=true)');

/** `tollgate serve` as `npm start` runs it (the preload first), with the SDK on and `vars`. */
async function startSidecar(vars: Record<string, string>): Promise<ChildTollgate> {
  const sidecar = await startChildTollgate(
    { SERVICE_MODE: 'mock', OTEL_SDK_DISABLED: 'false', ...vars },
    { entry: 'preloaded' },
  );
  await waitReady(sidecar);
  return sidecar;
}

/** An ioredis span (the instrumentation sets the database system, older or newer semconv name). */
const isRedis = (s: OtlpSpan) => (attr(s, 'db.system.name') ?? attr(s, 'db.system')) === 'redis';

const chat = (url: string, correlationId: string) =>
  fetch(`${url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-correlation-id': correlationId },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  }).then((r) => r.text());

describe('auto-instrumentations on the sidecar', () => {
  before(() => {
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stdout + build.stderr);
  });

  it('serves runtime-node metrics (event loop, GC, heap) on /metrics with the default selection', async (t) => {
    const sidecar = await startSidecar({});
    t.after(() => sidecar.stop());
    await chat(sidecar.url, 'runtime-1');
    let metrics = '';
    // The event loop delay histogram has its first samples after some ticks of its timer (10 ms).
    await until(
      async () => {
        metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
        return /^nodejs_eventloop_delay_p99 /m.test(metrics);
      },
      10_000,
      100,
    ).catch(() => {});
    for (const name of [
      'nodejs_eventloop_delay_p99',
      'nodejs_eventloop_utilization',
      'v8js_memory_heap_used',
      'tollgate_requests_total',
    ]) {
      assert.match(metrics, new RegExp(`^${name}[{ ]`, 'm'), name);
    }
  });

  it('leaves runtime-node out when disabled, and refuses http and undici with a log line', async (t) => {
    const sidecar = await startSidecar({
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,undici,runtime-node',
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'runtime-node',
    });
    t.after(() => sidecar.stop());
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /^nodejs_eventloop/m);
    assert.match(sidecar.output(), /"level":"warn".*instrumentation http refused on the sidecar/);
    assert.match(sidecar.output(), /"level":"warn".*instrumentation undici refused on the sidecar/);
    // The proxy's own spans stay the only HTTP spans: the mock answered, so none went upstream.
    assert.equal((await chat(sidecar.url, 'refused-1')).includes('chat.completion'), true);
  });

  describe('ioredis', { skip: redisMissing && 'redis-server is not installed' }, () => {
    let redis: ChildProcess;
    let redisUrl: string;
    let receiver: OtlpReceiver;
    before(async () => {
      const port = await freePort();
      redis = await startRedis(port);
      redisUrl = `redis://127.0.0.1:${port}`;
      receiver = await startOtlpReceiver();
    });
    after(async () => {
      await stopRedis(redis);
      await receiver.close();
    });

    it('puts the store’s Redis commands under the SERVER span of the call that made them, and pushes metrics over OTLP', async (t) => {
      const sidecar = await startSidecar({
        STATE_URL: redisUrl,
        BUDGET_DAILY_USD: '100',
        OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'ioredis,runtime-node',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_METRIC_EXPORT_INTERVAL: '300',
      });
      t.after(() => sidecar.stop());
      // A call admitted from the store's local view (a loaded machine can make Redis look slow for a
      // moment) runs no command of its own: call again, a few times, until one went to Redis.
      const server = (id: string) => receiver.spans.find((s) => s.kind === 2 && attr(s, 'correlation.id') === id);
      const under = (span: OtlpSpan) => receiver.spans.filter((s) => s.parentSpanId === span.spanId && isRedis(s));
      let call: OtlpSpan | undefined;
      for (let i = 1; i <= 5 && call === undefined; i++) {
        const id = `ioredis-${i}`;
        await chat(sidecar.url, id);
        await until(() => server(id) !== undefined, 20_000, 50);
        const span = server(id)!;
        if (
          await until(() => under(span).length > 0, 10_000, 50).then(
            () => true,
            () => false,
          )
        )
          call = span;
      }
      assert.ok(call !== undefined, 'one of five calls made Redis commands under its SERVER span');
      const commands = () => under(call!);
      for (const command of commands()) {
        assert.equal(command.traceId, call.traceId);
        const statement = attr(command, 'db.query.text') ?? attr(command, 'db.statement');
        assert.ok(statement === undefined || statement === command.name, `only the command name: ${statement}`);
        assert.equal(command.kind, 3, 'a CLIENT span');
      }
      // Background commands (probes, timers) belong to no call and make no span.
      const orphans = receiver.spans.filter((s) => !s.parentSpanId && isRedis(s));
      assert.deepEqual(
        orphans.map((s) => s.name),
        [],
      );
      assert.ok(
        commands().some((s) => /^(evalsha|eval|hget|get|set)/.test(s.name)),
        commands()
          .map((s) => s.name)
          .join(),
      );
      assert.doesNotMatch(sidecar.output(), /needs the preload/);
      // OTEL_METRICS_EXPORTER=otlp pushes what /metrics serves, the runtime's metrics with it.
      const pushed = () => receiver.metricNames.get('tollgate') ?? new Set<string>();
      await until(() => pushed().has('nodejs.eventloop.delay.p99') && pushed().has('tollgate_requests'), 10_000, 50);
    });
  });
});
