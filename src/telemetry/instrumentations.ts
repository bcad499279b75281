/**
 * The auto-instrumentations the sidecar can run beside its own proxy spans, chosen by the standard
 * `OTEL_NODE_ENABLED_INSTRUMENTATIONS` / `OTEL_NODE_DISABLED_INSTRUMENTATIONS` (names as
 * `@opentelemetry/auto-instrumentations-node` spells them, without `@opentelemetry/instrumentation-`).
 *
 * - `runtime-node`: event loop delay and utilisation, GC, heap, as metrics (on /metrics). Default.
 * - `ioredis`: the Redis store's commands as spans under the call that made them. Off by default:
 *   a span must find its call through async context, which costs every promise a hook (the bench).
 * - `pino`: log records sent over OTLP logs with their trace context. The logger already writes
 *   `trace_id`/`span_id` on its lines, so the instrumentation's own log correlation stays off.
 *
 * `http` and `undici` are refused: the proxy makes its SERVER and upstream HTTP spans itself, and
 * they would double every one of them (and cost about half the throughput). Other names do nothing
 * on the sidecar (it loads none of those libraries) and are reported once.
 */
import type { MeterProvider } from '@opentelemetry/api';

export const SIDECAR_INSTRUMENTATIONS = ['runtime-node', 'ioredis', 'pino'] as const;
export type SidecarInstrumentation = (typeof SIDECAR_INSTRUMENTATIONS)[number];

/** What costs the proxy nothing measurable (docs/performance.md, "Auto-instrumentations on the sidecar"). */
export const DEFAULT_INSTRUMENTATIONS: readonly SidecarInstrumentation[] = ['runtime-node'];

/** Refused on the sidecar, with the reason the log line gives. */
const REFUSED: Record<string, string> = {
  http: 'the proxy makes its own SERVER and upstream HTTP spans; the http instrumentation would double them',
  undici: 'the proxy makes its own upstream HTTP spans; the undici instrumentation would double them',
};

/** Those that patch a library as it loads, so they need the preload (`--import ./dist/telemetry/register.js`). */
const PATCHING: ReadonlySet<SidecarInstrumentation> = new Set(['ioredis', 'pino']);

export interface Selection {
  enabled: SidecarInstrumentation[];
  /** Asked for but refused (`http`, `undici`), with why. */
  refused: { name: string; reason: string }[];
  /** Asked for but not something the sidecar runs. */
  ignored: string[];
}

const names = (raw: string | undefined): string[] =>
  (raw ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');

const isSidecar = (n: string): n is SidecarInstrumentation =>
  (SIDECAR_INSTRUMENTATIONS as readonly string[]).includes(n);

/**
 * The selection the environment asks for, with the rules of auto-instrumentations-node: the enabled
 * list (when set) replaces the default, the disabled list removes from it.
 */
export function selectInstrumentations(env: NodeJS.ProcessEnv): Selection {
  const asked = env.OTEL_NODE_ENABLED_INSTRUMENTATIONS?.trim() ? names(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS) : [];
  const disabled = new Set(names(env.OTEL_NODE_DISABLED_INSTRUMENTATIONS));
  const wanted = asked.length > 0 ? asked : [...DEFAULT_INSTRUMENTATIONS];
  const selection: Selection = { enabled: [], refused: [], ignored: [] };
  for (const name of new Set(wanted)) {
    // `none` (as in OTEL_TRACES_EXPORTER) asks for no instrumentation at all.
    if (disabled.has(name) || name === 'none') continue;
    const reason = REFUSED[name];
    if (reason !== undefined) selection.refused.push({ name, reason });
    else if (isSidecar(name)) selection.enabled.push(name);
    else selection.ignored.push(name);
  }
  return selection;
}

/** What an instrumentation instance offers once built (the OTel InstrumentationBase methods used here). */
interface Instance {
  setMeterProvider(provider: MeterProvider): void;
}

/** The instrumentations of this process: built once (by the preload or by the SDK start), shared by both. */
const running = new Map<SidecarInstrumentation, Instance>();

async function build(name: SidecarInstrumentation): Promise<Instance> {
  if (name === 'runtime-node') {
    const { RuntimeNodeInstrumentation } = await import('@opentelemetry/instrumentation-runtime-node');
    return new RuntimeNodeInstrumentation();
  }
  if (name === 'ioredis') {
    const { IORedisInstrumentation } = await import('@opentelemetry/instrumentation-ioredis');
    // Only commands made inside a call: the store's background probes and timers stay untraced. The
    // statement is the command's name alone: script arguments carry ledger rows, which are no span's business.
    return new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command });
  }
  const { PinoInstrumentation } = await import('@opentelemetry/instrumentation-pino');
  return new PinoInstrumentation({ disableLogCorrelation: true });
}

/**
 * Builds (and so enables) the selected instrumentations not built yet. `patching` false builds only
 * those that need no module hook (what `Telemetry.start` can still do after the libraries loaded).
 */
export async function startInstrumentations(
  enabled: readonly SidecarInstrumentation[],
  { patching }: { patching: boolean },
): Promise<SidecarInstrumentation[]> {
  const started: SidecarInstrumentation[] = [];
  for (const name of enabled) {
    if (running.has(name) || (!patching && PATCHING.has(name))) continue;
    running.set(name, await build(name));
    started.push(name);
  }
  return started;
}

/** Selected instrumentations that patch libraries but were not started by the preload. */
export const missingPreload = (enabled: readonly SidecarInstrumentation[]): SidecarInstrumentation[] =>
  enabled.filter((n) => PATCHING.has(n) && !running.has(n));

export const needsPreload = (enabled: readonly SidecarInstrumentation[]): boolean =>
  enabled.some((n) => PATCHING.has(n));

export const isRunning = (name: SidecarInstrumentation): boolean => running.has(name);

/** Points the metric-making instrumentations at the meter provider /metrics reads. */
export function meterInstrumentations(provider: MeterProvider): void {
  for (const instance of running.values()) instance.setMeterProvider(provider);
}
