/**
 * An OTLP/HTTP JSON receiver on loopback: what the exporters of the sidecar and the worker really
 * send (set `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` and the endpoint to `url`).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

type AnyValue = Record<string, unknown>;

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 1 INTERNAL, 2 SERVER, 3 CLIENT. */
  kind: number;
  attributes: { key: string; value: AnyValue }[];
  /** `service.name` of the resource that sent it. */
  service: string;
}

export interface OtlpReceiver {
  url: string;
  spans: OtlpSpan[];
  /** Names of the metrics received, by service. */
  metricNames: Map<string, Set<string>>;
  close(): Promise<void>;
}

const plain = (v: AnyValue | undefined): unknown => {
  if (v === undefined) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return ((v.arrayValue as { values?: AnyValue[] }).values ?? []).map(plain);
  return v;
};

/** An attribute of a received span, as a plain value (ints as numbers). */
export const attr = (span: Pick<OtlpSpan, 'attributes'>, key: string): unknown =>
  plain(span.attributes.find((a) => a.key === key)?.value);

interface Resource {
  resource?: { attributes?: { key: string; value: AnyValue }[] };
}

const serviceOf = (r: Resource) => String(attr({ attributes: r.resource?.attributes ?? [] }, 'service.name') ?? '');

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: OtlpSpan[] = [];
  const metricNames = new Map<string, Set<string>>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        resourceSpans?: (Resource & { scopeSpans: { spans: Omit<OtlpSpan, 'service'>[] }[] })[];
        resourceMetrics?: (Resource & { scopeMetrics: { metrics: { name: string }[] }[] })[];
      };
      for (const rs of body.resourceSpans ?? []) {
        const service = serviceOf(rs);
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      for (const rm of body.resourceMetrics ?? []) {
        const names = metricNames.get(serviceOf(rm)) ?? new Set<string>();
        metricNames.set(serviceOf(rm), names);
        for (const sm of rm.scopeMetrics) for (const m of sm.metrics) names.add(m.name);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    metricNames,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
