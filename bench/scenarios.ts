/**
 * The measured workloads. Throughput comes from autocannon; single-connection latency and
 * streaming timings come from a small undici client timed with the high-resolution clock,
 * because autocannon's histogram only keeps whole milliseconds (loopback p50s are below one).
 */
import autocannon from 'autocannon';
import { Client } from 'undici';

export interface Target {
  /** Origin, e.g. http://127.0.0.1:8790 */
  origin: string;
  /** '' for the stand-in itself, '/openai' behind a proxy. */
  openaiPrefix: string;
}

export interface ThroughputResult {
  rps: number;
  requests: number;
  errors: number;
}

export interface LatencyResult {
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}

export interface StreamResult {
  ttfbP50Ms: number;
  ttfbP99Ms: number;
  totalP50Ms: number;
  totalP99Ms: number;
  /** Mean time between consecutive content chunks as the client saw them. */
  meanGapMs: number;
  contentChunks: number;
  requests: number;
  errors: number;
}

const HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-bench-worker' };

export const CHAT_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  max_tokens: 16,
  messages: [
    { role: 'system', content: 'You are a terse assistant.' },
    { role: 'user', content: 'Name one prime number between 10 and 20.' },
  ],
});

export const STREAM_BODY = JSON.stringify({ ...JSON.parse(CHAT_BODY), stream: true });

// The SDK asks for base64 unless told otherwise, so that is what workers send.
export const EMBEDDINGS_BODY = JSON.stringify({
  model: 'text-embedding-3-small',
  input: 'The quick brown fox jumps over the lazy dog, and the benchmark measures the proxy.',
  encoding_format: 'base64',
});

export function chatPath(target: Target): string {
  return `${target.openaiPrefix}/v1/chat/completions`;
}

export function embeddingsPath(target: Target): string {
  return `${target.openaiPrefix}/v1/embeddings`;
}

/** One autocannon run of POSTs, for a duration or for an amount of requests. */
async function load(
  target: Target,
  path: string,
  body: string,
  connections: number,
  until: { duration: number } | { amount: number },
): Promise<ThroughputResult> {
  const result = await autocannon({
    url: `${target.origin}${path}`,
    method: 'POST',
    headers: HEADERS,
    body,
    connections,
    ...until,
    timeout: 10,
  });
  const requests = result.requests.total;
  return {
    rps: requests / Math.max(result.duration, 0.001),
    requests,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

export function throughput(
  target: Target,
  path: string,
  body: string,
  connections: number,
  seconds: number,
): Promise<ThroughputResult> {
  return load(target, path, body, connections, { duration: seconds });
}

/** Exactly `amount` requests (responses or errors) at `connections`, however long they take. */
export function fixedAmount(
  target: Target,
  path: string,
  body: string,
  connections: number,
  amount: number,
): Promise<ThroughputResult> {
  return load(target, path, body, connections, { amount });
}

/** Sequential requests over one connection for `seconds` (at most `maxRequests`). */
export async function latencyOneConnection(
  target: Target,
  path: string,
  body: string,
  seconds: number,
  maxRequests: number,
): Promise<LatencyResult> {
  const client = new Client(target.origin, { pipelining: 1 });
  const samples: number[] = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  try {
    while (samples.length + errors < maxRequests && performance.now() < deadline) {
      const started = performance.now();
      try {
        const res = await client.request({ path, method: 'POST', headers: HEADERS, body });
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) errors += 1;
        else samples.push(performance.now() - started);
      } catch {
        errors += 1;
      }
    }
  } finally {
    await client.close();
  }
  return { p50Ms: percentile(samples, 0.5), p99Ms: percentile(samples, 0.99), requests: samples.length, errors };
}

export interface FirstCallResult {
  /** The first call after /readyz turned 200. */
  firstMs: number;
  /** p50 of the sequential calls right after it. */
  steadyP50Ms: number;
}

/**
 * The first call to `path` on a sidecar that just turned ready, then `steadyCalls` more over the same
 * connection: whether the first costs what the later ones do (contract section 7). The client's own
 * first request goes to /livez, so only the server's first call is timed.
 */
export async function firstCall(
  target: Target,
  path: string,
  body: string,
  steadyCalls = 50,
): Promise<FirstCallResult> {
  const client = new Client(target.origin, { pipelining: 1 });
  const once = async (p: string): Promise<number> => {
    const started = performance.now();
    const res = await client.request({ path: p, method: 'POST', headers: HEADERS, body });
    await res.body.arrayBuffer();
    if (p === path && res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}`);
    return performance.now() - started;
  };
  try {
    await once('/livez');
    const firstMs = await once(path);
    const steady: number[] = [];
    for (let i = 0; i < steadyCalls; i++) steady.push(await once(path));
    return { firstMs, steadyP50Ms: percentile(steady, 0.5) };
  } finally {
    await client.close();
  }
}

/** `count` sequential streamed chats, timing the first SSE frame, each content chunk and the end. */
export async function streaming(target: Target, count: number): Promise<StreamResult> {
  const client = new Client(target.origin, { pipelining: 1 });
  const ttfb: number[] = [];
  const total: number[] = [];
  let gapSum = 0;
  let gapCount = 0;
  let contentChunks = 0;
  let errors = 0;
  try {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      try {
        const res = await client.request({
          path: chatPath(target),
          method: 'POST',
          headers: HEADERS,
          body: STREAM_BODY,
        });
        if (res.statusCode !== 200) {
          await res.body.arrayBuffer();
          errors += 1;
          continue;
        }
        let buffered = '';
        let first = -1;
        let lastContent = -1;
        let sawDone = false;
        for await (const chunk of res.body) {
          const now = performance.now();
          buffered += chunk.toString('utf8');
          let end = buffered.indexOf('\n\n');
          while (end !== -1) {
            const frame = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            end = buffered.indexOf('\n\n');
            if (first < 0) first = now - started;
            if (frame === 'data: [DONE]') sawDone = true;
            else if (hasContent(frame)) {
              contentChunks += 1;
              if (lastContent >= 0) {
                gapSum += now - lastContent;
                gapCount += 1;
              }
              lastContent = now;
            }
          }
        }
        if (first < 0 || !sawDone) errors += 1;
        else {
          ttfb.push(first);
          total.push(performance.now() - started);
        }
      } catch {
        errors += 1;
      }
    }
  } finally {
    await client.close();
  }
  return {
    ttfbP50Ms: percentile(ttfb, 0.5),
    ttfbP99Ms: percentile(ttfb, 0.99),
    totalP50Ms: percentile(total, 0.5),
    totalP99Ms: percentile(total, 0.99),
    meanGapMs: gapCount === 0 ? Number.NaN : gapSum / gapCount,
    contentChunks,
    requests: ttfb.length,
    errors,
  };
}

function hasContent(frame: string): boolean {
  if (!frame.startsWith('data: {')) return false;
  try {
    const chunk = JSON.parse(frame.slice(6)) as { choices?: Array<{ delta?: { content?: unknown } }> };
    const content = chunk.choices?.[0]?.delta?.content;
    return typeof content === 'string' && content !== '';
  } catch {
    return false;
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}
