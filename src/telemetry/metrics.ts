import type { Attributes, Counter, Meter } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, type MetricReader, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { CATALOG, MODES, type Mode, PROVIDERS, type Provider } from '../config/index.js';
import type { CallRecord } from '../proxy/index.js';
import { ATTR, DURATION_BUCKETS, METRICS, TOKEN_BUCKETS, TOKEN_TYPE } from './names.js';

type MetricProvider = Provider;
type ProviderMode = Mode;

const PROVIDER_NAMES: readonly MetricProvider[] = PROVIDERS;
const MODE_NAMES: readonly ProviderMode[] = MODES;
const LIMIT_NAMES = new Set(['requests', 'tokens', 'pages', 'budget']);
/** The limits config can set per provider (contract §2), from the catalog: OpenAI has no page buckets, LlamaParse no token ones. */
const SEEDED_LIMITS: readonly (readonly [MetricProvider, readonly string[]])[] = CATALOG.map((p) => [
  p.name,
  [...p.limitKinds, 'budget'],
]);

/** Distinct models that get their own label value; later ones share `other`. */
export const MODEL_LABEL_CAP = 200;
/** LlamaParse tiers come from the request body, so they are capped the same way (there are a handful). */
export const TIER_LABEL_CAP = 20;
export const OTHER_LABEL = 'other';

/** The Prometheus text exposition format the serializer writes. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What the metrics read on each scrape, from the parts `startTollgate` builds. */
export interface MetricSources {
  /** Budget and bucket state (may hit the store; called on scrape). */
  snapshot(): Promise<{
    buckets: { kind: string; scope: string; remaining: number }[];
    budgets: { scope: string; window: string; limitUsd: number; spentUsd: number; remainingUsd: number }[];
  }>;
  providerUp(provider: MetricProvider): boolean;
  circuitOpen(provider: MetricProvider): boolean;
  mode(provider: MetricProvider): ProviderMode;
}

export interface Metrics {
  /** Counts one finished call: requests, cost, tokens, pages, fallbacks, rate limits, unpriced, GenAI histograms. */
  recordCall(call: CallRecord): void;
  /** Collects and serializes everything as Prometheus text for GET /metrics. */
  render(): Promise<{ contentType: string; body: string }>;
  shutdown(): Promise<void>;
  /** The provider /metrics reads, for instrumentations that make metrics of their own (runtime-node). */
  readonly meterProvider: MeterProvider;
}

export interface MetricsOptions {
  serviceName: string;
  serviceVersion?: string;
  sources: MetricSources;
  /** More readers beside /metrics (the OTLP push when OTEL_METRICS_EXPORTER=otlp: Telemetry.metricReaders). */
  readers?: MetricReader[];
}

/**
 * Hands out label values from an open set (model names, tiers) until `cap` distinct ones were
 * seen, then `other`: a worker that sends a new model name per request cannot grow /metrics.
 */
function boundedLabel(cap: number): (value: string) => string {
  const seen = new Set<string>();
  return function bounded(value) {
    if (seen.has(value)) return value;
    if (seen.size >= cap) return OTHER_LABEL;
    seen.add(value);
    return value;
  };
}

/** Label values to attribute objects, one level per label (the leaves are the attribute objects). */
type Level = Map<string, Level | Attributes>;

function below(level: Level, value: string): Level {
  let next = level.get(value) as Level | undefined;
  if (next === undefined) {
    next = new Map();
    level.set(value, next);
  }
  return next;
}

/**
 * One frozen attribute object per label combination, so recording a call allocates no objects
 * for combinations already seen: fixed parameters rather than a rest array, and a lookup per label
 * rather than a key string built per call. Label values are bounded, so the cache is too.
 */
function attributeCache(
  names: readonly string[],
): (a: string, b?: string, c?: string, d?: string, e?: string) => Attributes {
  const root: Level = new Map();
  return function attributes(a, b = '', c = '', d = '', e = '') {
    const leaves = below(below(below(below(root, a), b), c), d);
    let attrs = leaves.get(e) as Attributes | undefined;
    if (attrs === undefined) {
      const values = [a, b, c, d, e];
      const built: Attributes = {};
      names.forEach((name, i) => {
        // An unknown value leaves the attribute out rather than exporting an empty label.
        if (values[i]) built[name] = values[i];
      });
      attrs = Object.freeze(built);
      leaves.set(e, attrs);
    }
    return attrs;
  };
}

const histogramView = (instrumentName: string, boundaries: number[]): ViewOptions => ({
  instrumentName,
  aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries, recordMinMax: false } },
});

/** The exporter that collects on demand and the provider whose meter makes the instruments. */
function meterProvider(options: MetricsOptions): { exporter: PrometheusExporter; provider: MeterProvider } {
  // No HTTP server of its own: the sidecar serves /metrics on its own port through render().
  // Scope labels (otel_scope_name) would ride on every series and are not part of contract §8.
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
    }),
    readers: [exporter, ...(options.readers ?? [])],
    views: [
      histogramView(METRICS.genAiTokenUsage, TOKEN_BUCKETS),
      histogramView(METRICS.genAiDuration, DURATION_BUCKETS),
      histogramView(METRICS.genAiTimeToFirstChunk, DURATION_BUCKETS),
    ],
  });
  return { exporter, provider };
}

/** What a call adds to a counter. */
type Tally = Pick<Counter, 'add'>;

const NO_ATTRIBUTES: Attributes = Object.freeze({});

/**
 * A counter whose `add` is one Map update: the totals reach the SDK only when a reader collects (an
 * observable counter, exported exactly as a counter), so a call does not pay the SDK's attribute
 * hashing (a key sort and a JSON string per add). Attribute objects come from attributeCache, one
 * per label set, so they key the Map by identity.
 */
function tallyCounter(meter: Meter, name: string, description: string): Tally {
  const totals = new Map<Attributes, number>();
  meter.createObservableCounter(name, { description }).addCallback(function observeTotals(result) {
    for (const [attributes, total] of totals) result.observe(total, attributes);
  });
  return {
    add(value, attributes = NO_ATTRIBUTES) {
      // As Counter.add: a negative or non-finite amount is not counted.
      if (!Number.isFinite(value) || value < 0) return;
      totals.set(attributes, (totals.get(attributes) ?? 0) + value);
    },
  };
}

/** The instruments a finished call adds to: counters, then the GenAI histograms. */
function callInstruments(meter: Meter) {
  const counter = (name: string, description: string): Tally => tallyCounter(meter, name, description);
  return {
    requests: counter(METRICS.requests, 'Proxied calls, by how they were served and answered'),
    cost: counter(METRICS.cost, 'Cost in USD of metered calls (mock shadow cost included, served_by="mock")'),
    tokens: counter(METRICS.tokens, 'Tokens metered, by type'),
    pages: counter(METRICS.pages, 'Document pages parsed'),
    fallbacks: counter(METRICS.fallbacks, 'Calls served by the mock because the real provider could not be used'),
    rateLimited: counter(METRICS.rateLimited, 'Calls refused or degraded by a rate limit or budget'),
    unpriced: counter(METRICS.unpriced, 'Metered calls for a model with no price (booked at 0)'),
    cacheRequests: counter(METRICS.cacheRequests, 'Calls the response cache could answer, by hit or miss'),
    cacheSaved: counter(METRICS.cacheSaved, 'What cache hits would have cost at the provider, in USD'),
    // GenAI semantic conventions: units in the descriptor, no unit suffix on the exported name.
    tokenUsage: meter.createHistogram(METRICS.genAiTokenUsage, {
      description: 'Number of input and output tokens used',
      unit: '{token}',
    }),
    duration: meter.createHistogram(METRICS.genAiDuration, {
      description: 'GenAI operation duration',
      unit: 's',
    }),
    firstChunk: meter.createHistogram(METRICS.genAiTimeToFirstChunk, {
      description: 'Time to receive the first chunk of a streamed response',
      unit: 's',
    }),
  };
}
type CallInstruments = ReturnType<typeof callInstruments>;

/** The gauges read on each scrape. */
function scrapeGauges(meter: Meter) {
  const gauge = (name: string, description: string) => meter.createObservableGauge(name, { description });
  return {
    budgetLimit: gauge(METRICS.budgetLimit, 'Budget cap in USD for the current window'),
    budgetSpent: gauge(METRICS.budgetSpent, 'USD spent against the budget in the current window'),
    budgetRemaining: gauge(METRICS.budgetRemaining, 'USD left in the budget for the current window'),
    ratelimitAvailable: gauge(METRICS.ratelimitAvailable, 'Units left in a rate-limit bucket'),
    providerUp: gauge(METRICS.providerUp, '1 when the provider can serve calls'),
    circuitOpen: gauge(METRICS.circuitOpen, '1 when the circuit to the real provider is open'),
    mode: gauge(METRICS.mode, '1 for the mode in force for the provider, 0 for the others'),
  };
}
type ScrapeGauges = ReturnType<typeof scrapeGauges>;

/** The bounded label values and cached attribute sets of every metric. */
function labelSets() {
  const genAiNames = [ATTR.genAiOperation, ATTR.genAiProvider, ATTR.genAiRequestModel, ATTR.genAiResponseModel];
  return {
    model: boundedLabel(MODEL_LABEL_CAP),
    tier: boundedLabel(TIER_LABEL_CAP),
    requestAttrs: attributeCache(['provider', 'operation', 'served_by', 'status_code']),
    costAttrs: attributeCache(['provider', 'model', 'operation', 'served_by']),
    tokenAttrs: attributeCache(['provider', 'model', 'token_type']),
    pageAttrs: attributeCache(['provider', 'tier']),
    fallbackAttrs: attributeCache(['provider', 'reason']),
    limitAttrs: attributeCache(['provider', 'limit']),
    unpricedAttrs: attributeCache(['provider', 'model']),
    cacheAttrs: attributeCache(['provider', 'result']),
    genAiAttrs: attributeCache(genAiNames),
    genAiErrorAttrs: attributeCache([...genAiNames, ATTR.errorType]),
    genAiTokenAttrs: attributeCache([...genAiNames, ATTR.genAiTokenType]),
    budgetAttrs: attributeCache(['scope', 'window']),
    bucketAttrs: attributeCache(['provider', 'model', 'kind']),
    providerAttrs: attributeCache(['provider']),
    modeAttrs: attributeCache(['provider', 'mode']),
  };
}
type LabelSets = ReturnType<typeof labelSets>;

/** Registers the scrape-time callbacks: budgets and buckets from the store, then each provider's state. */
function observeOnScrape(meter: Meter, gauges: ScrapeGauges, labels: LabelSets, sources: MetricSources): void {
  const { budgetLimit, budgetSpent, budgetRemaining, ratelimitAvailable, providerUp, circuitOpen, mode } = gauges;
  const { budgetAttrs, bucketAttrs, providerAttrs, modeAttrs } = labels;
  meter.addBatchObservableCallback(
    async function observeLimits(result) {
      let snap: Awaited<ReturnType<MetricSources['snapshot']>>;
      try {
        snap = await sources.snapshot();
      } catch {
        // A store that does not answer must not fail the whole scrape; the gauges keep their last values.
        return;
      }
      for (const b of snap.budgets) {
        const attrs = budgetAttrs(b.scope, b.window);
        result.observe(budgetLimit, b.limitUsd, attrs);
        result.observe(budgetSpent, b.spentUsd, attrs);
        result.observe(budgetRemaining, b.remainingUsd, attrs);
      }
      for (const b of snap.buckets) {
        // A bucket scope is `provider` (all its models, labelled `*`) or `provider:model` from config.
        const colon = b.scope.indexOf(':');
        const p = colon === -1 ? b.scope : b.scope.slice(0, colon);
        const m = colon === -1 ? '*' : b.scope.slice(colon + 1);
        result.observe(ratelimitAvailable, b.remaining, bucketAttrs(p, m, b.kind));
      }
    },
    [budgetLimit, budgetSpent, budgetRemaining, ratelimitAvailable],
  );
  meter.addBatchObservableCallback(
    function observeProviders(result) {
      for (const p of PROVIDER_NAMES) {
        const attrs = providerAttrs(p);
        result.observe(providerUp, sources.providerUp(p) ? 1 : 0, attrs);
        result.observe(circuitOpen, sources.circuitOpen(p) ? 1 : 0, attrs);
        const current = sources.mode(p);
        for (const m of MODE_NAMES) result.observe(mode, m === current ? 1 : 0, modeAttrs(p, m));
      }
    },
    [providerUp, circuitOpen, mode],
  );
}

/**
 * The hot path: what one finished call adds to the counters and, when it was a GenAI operation,
 * to the histograms. Everything it reads is bound here once, so a call allocates nothing new.
 */
function callRecorder(instruments: CallInstruments, labels: LabelSets): (call: CallRecord) => void {
  const { requests, cost, tokens, pages, fallbacks, rateLimited, unpriced } = instruments;
  const { model, tier, requestAttrs, costAttrs, tokenAttrs, pageAttrs, fallbackAttrs, limitAttrs, unpricedAttrs } =
    labels;
  const recordGenAi = genAiRecorder(instruments, labels);

  // Known label sets start at 0, so `increase()` and alerts see the first refusal instead of a new series.
  for (const [p, limits] of SEEDED_LIMITS) for (const limit of limits) rateLimited.add(0, limitAttrs(p, limit));

  return function recordCall(call) {
    const p = call.provider;
    const servedBy = call.servedBy;
    const usage = call.usage;
    requests.add(1, requestAttrs(p, call.operation, servedBy, String(call.status)));

    // The same model the ledger books, so cost by model here and in /admin/costs agree.
    const bookedModel = model(usage?.model ?? call.model ?? usage?.tier ?? 'unknown');
    if (call.costUsd !== undefined) {
      // The ledger books whole nano-dollars; counting the same rounded amount keeps
      // sum(tollgate_cost_usd_total) equal to /admin/costs `total.cost_usd` (contract §7).
      cost.add(Math.round(call.costUsd * 1e9) / 1e9, costAttrs(p, bookedModel, call.operation, servedBy));
    }
    if (usage !== undefined) {
      if (usage.inputTokens > 0) tokens.add(usage.inputTokens, tokenAttrs(p, bookedModel, 'input'));
      if (usage.cachedInputTokens > 0) tokens.add(usage.cachedInputTokens, tokenAttrs(p, bookedModel, 'cached_input'));
      if (usage.outputTokens > 0) tokens.add(usage.outputTokens, tokenAttrs(p, bookedModel, 'output'));
      if (usage.pages > 0) pages.add(usage.pages, pageAttrs(p, tier(usage.tier ?? call.model ?? 'unknown')));
    }
    if (call.fallbackReason !== undefined) fallbacks.add(1, fallbackAttrs(p, call.fallbackReason));
    if (call.limitedBy !== undefined) {
      rateLimited.add(1, limitAttrs(p, LIMIT_NAMES.has(call.limitedBy) ? call.limitedBy : OTHER_LABEL));
    }
    if (call.unpriced) unpriced.add(1, unpricedAttrs(p, bookedModel));
    if (call.cache !== undefined) instruments.cacheRequests.add(1, labels.cacheAttrs(p, call.cache));
    if (call.savedUsd !== undefined) {
      instruments.cacheSaved.add(Math.round(call.savedUsd * 1e9) / 1e9, labels.providerAttrs(p));
    }

    // Pass-through calls (model lists, files) are not GenAI operations.
    if (call.metered) recordGenAi(call);
  };
}

/** The GenAI semantic-convention histograms of a metered call: duration, time to first chunk, tokens. */
function genAiRecorder(instruments: CallInstruments, labels: LabelSets): (call: CallRecord) => void {
  const { tokenUsage, duration, firstChunk } = instruments;
  const { model, genAiAttrs, genAiErrorAttrs, genAiTokenAttrs } = labels;
  return function recordGenAi(call) {
    const p = call.provider;
    const usage = call.usage;
    const requestModel = call.model === undefined ? '' : model(call.model);
    const responseModel = usage?.model === undefined ? requestModel : model(usage.model);
    const op = call.genAiOperation;
    const failed = call.errorType !== undefined || call.status >= 400 || call.status === 0;
    const attrs = failed
      ? genAiErrorAttrs(
          op,
          p,
          requestModel,
          responseModel,
          call.errorType ?? (call.status > 0 ? String(call.status) : '_OTHER'),
        )
      : genAiAttrs(op, p, requestModel, responseModel);
    duration.record(call.durationMs / 1000, attrs);
    if (call.stream && call.firstChunkMs !== undefined) firstChunk.record(call.firstChunkMs / 1000, attrs);
    // Cache reads and writes are part of `input` here: the convention has no token type for them (names.ts).
    if (usage !== undefined) {
      if (usage.inputTokens > 0) {
        tokenUsage.record(usage.inputTokens, genAiTokenAttrs(op, p, requestModel, responseModel, TOKEN_TYPE.input));
      }
      if (usage.outputTokens > 0) {
        tokenUsage.record(usage.outputTokens, genAiTokenAttrs(op, p, requestModel, responseModel, TOKEN_TYPE.output));
      }
    }
  };
}

/**
 * Builds the sidecar's metrics on a private MeterProvider, so several sidecars in one process
 * (tests, the fleet) never share or clobber each other's instruments through the global API.
 *
 * @example
 * const metrics = createMetrics({ serviceName: 'tollgate', sources });
 * metrics.recordCall(call);
 * const { contentType, body } = await metrics.render();
 */
export function createMetrics(options: MetricsOptions): Metrics {
  const { exporter, provider } = meterProvider(options);
  // The exporter keeps its serializer private; one built with the same settings writes the same text.
  const serializer = new PrometheusSerializer(undefined, false, undefined, false, true);
  const meter = provider.getMeter('tollgate');
  // Instruments are created in this order, and /metrics lists them in it.
  const instruments = callInstruments(meter);
  const gauges = scrapeGauges(meter);
  const labels = labelSets();
  const recordCall = callRecorder(instruments, labels);
  observeOnScrape(meter, gauges, labels, options.sources);

  async function render(): Promise<{ contentType: string; body: string }> {
    const { resourceMetrics } = await exporter.collect();
    return { contentType: PROMETHEUS_CONTENT_TYPE, body: serializer.serialize(resourceMetrics) };
  }

  return {
    recordCall,
    render,
    shutdown: () => provider.shutdown(),
    meterProvider: provider,
  };
}
