import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { TollgateError } from '../errors.js';
import { emptyUsage, type ProviderAdapter, SseParser } from '../providers/index.js';
import { collect } from './body.js';
import type { Exchange } from './exchange.js';
import { contentType, isJsonType, isSseType } from './media.js';
import type { Reply } from './reply.js';

/** Bodies of non-streamed metered answers are held (to put the cost in a header) up to this size. */
const HOLD_LIMIT = 8 * 1024 * 1024;

/** The event that ends a stream: held back until the call is booked. */
const isFinalEvent = (ev: { event: string | undefined; data: string }) =>
  ev.data === '[DONE]' ||
  ev.event === 'response.completed' ||
  ev.event === 'response.incomplete' ||
  ev.event === 'response.failed';

const costHeader = (usd: number) => usd.toFixed(9).replace(/\.?0+$/, '') || '0';

/**
 * A metered stream, relayed event by event: usage is read as it goes, the injected usage chunk (and its
 * `usage: null` markers) is removed when the worker did not ask for it, and the final event is held
 * until the call is booked.
 */
async function deliverSse(
  x: Exchange,
  reply: Reply,
  fold: NonNullable<ProviderAdapter['usageFromSse']>,
  stripUsage: boolean,
  settle: () => Promise<void>,
) {
  const { call, route } = x;
  call.stream = true;
  const usage = emptyUsage();
  call.usage = usage;
  const parser = new SseParser();
  let held = '';
  delete reply.headers['content-length'];
  const body = typeof reply.body === 'string' || reply.body instanceof Uint8Array ? [reply.body] : reply.body;
  await x.sink.stream(reply.status, reply.headers, body, {
    onChunk(chunk) {
      let out = '';
      for (const ev of parser.push(chunk)) {
        if (fold(route.operation, ev, usage) && stripUsage) continue;
        const raw = stripUsage && ev.raw.includes('"usage":null') ? ev.raw.replace(/,\s*"usage":\s*null/g, '') : ev.raw;
        if (isFinalEvent(ev)) held += raw;
        else out += raw;
      }
      return out;
    },
    onEnd: () => held + (parser.flush()?.raw ?? ''),
    settle,
    failure: (e) => x.cancel.bodyFailure(e),
  });
}

/** Reads a whole answer up to HOLD_LIMIT: its text, or what was read of a larger one (the rest still streaming). */
async function hold(x: Exchange, body: Reply['body']): Promise<{ text: string } | { head: Buffer[]; tail: Readable }> {
  if (typeof body === 'string') return { text: body };
  if (body instanceof Uint8Array)
    return { text: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString() };
  let got: Awaited<ReturnType<typeof collect>>;
  try {
    got = await collect(body, HOLD_LIMIT, 'upstream body closed early');
  } catch (e) {
    throw x.call.aborted ? e : x.cancel.bodyFailure(e);
  }
  return got.whole !== undefined ? { text: got.whole.toString('utf8') } : { head: got.rest, tail: body };
}

/** A metered JSON answer: held whole so its usage and cost are known before the headers go out. */
async function deliverJson(x: Exchange, reply: Reply, settle: () => Promise<void>) {
  const { call, route, adapter } = x;
  const held = await hold(x, reply.body);
  if ('head' in held) {
    // Too large to hold: relay what we have and the rest as it comes.
    const { head, tail } = held;
    const rest = (async function* () {
      yield* head;
      tail.resume();
      yield* tail;
    })();
    return x.sink.stream(reply.status, reply.headers, rest, { settle, failure: (e) => x.cancel.bodyFailure(e) });
  }
  try {
    call.usage = adapter.usageFromJson(route.operation, JSON.parse(held.text));
  } catch {
    // Not JSON after all: relay as is, unmetered.
  }
  delete reply.headers['content-encoding'];
  call.status = reply.status;
  try {
    await settle();
  } catch (e) {
    // The ledger could not take the row: the worker must not hold an answer it lacks.
    throw new TollgateError(
      503,
      'state_unavailable',
      'The spend ledger could not be written; the answer was withheld',
      {
        cause: e,
      },
    );
  }
  if (call.costUsd !== undefined) reply.headers['x-tollgate-cost-usd'] = costHeader(call.costUsd);
  x.sink.whole(reply.status, reply.headers, held.text);
}

/**
 * Stage 5: relays an answer (the mock's or the provider's) to the worker, metering it on the way:
 * SSE event by event, JSON held whole, anything else as it comes. `settle` books the call before the
 * last byte goes out.
 */
export async function deliver(x: Exchange, reply: Reply, stripUsage: boolean, settle: () => Promise<void>) {
  const ct = contentType(reply.headers);
  const metered = x.route.metered;
  const fold = x.adapter.usageFromSse;
  if (metered && isSseType(ct) && fold) return deliverSse(x, reply, fold.bind(x.adapter), stripUsage, settle);
  if (metered && isJsonType(ct)) return deliverJson(x, reply, settle);
  const { body } = reply;
  if (typeof body === 'string' || body instanceof Uint8Array) return x.sink.whole(reply.status, reply.headers, body);
  return x.sink.stream(reply.status, reply.headers as OutgoingHttpHeaders, body, {
    settle,
    failure: (e) => x.cancel.bodyFailure(e),
  });
}
