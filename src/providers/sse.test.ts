import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type SseEvent, SseParser } from './sse.js';

/** One line of an event, and what it contributes to the parsed event. */
type Line =
  | { kind: 'data'; text: string }
  | { kind: 'dataTight'; text: string }
  | { kind: 'dataBare' }
  | { kind: 'event'; name: string }
  | { kind: 'comment'; text: string }
  | { kind: 'id'; text: string };

type Eol = '\n' | '\r\n' | '\r';

interface GenEvent {
  lines: Line[];
  eol: Eol;
}

const enc = new TextEncoder();

/** Any text without line breaks, including astral and other multi-byte characters. */
const lineText = fc.string({ unit: 'binary', maxLength: 24 }).map((s) => s.replace(/[\r\n]/g, '·'));
/** Mostly multi-byte text, so that chunk cuts land inside UTF-8 sequences often. */
const wideText = fc
  .array(fc.constantFrom('é', 'ß', '€', '中', '文', '😀', '🧪', '\u{10FFFF}', 'a', ' ', ':'), { maxLength: 12 })
  .map((a) => a.join(''));
const text = fc.oneof(lineText, wideText);

const line: fc.Arbitrary<Line> = fc.oneof(
  { weight: 4, arbitrary: text.map((t) => ({ kind: 'data' as const, text: t })) },
  {
    weight: 1,
    arbitrary: text.filter((t) => !t.startsWith(' ')).map((t) => ({ kind: 'dataTight' as const, text: t })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'dataBare' as const }) },
  { weight: 2, arbitrary: text.map((n) => ({ kind: 'event' as const, name: n })) },
  { weight: 1, arbitrary: text.map((t) => ({ kind: 'comment' as const, text: t })) },
  { weight: 1, arbitrary: text.map((t) => ({ kind: 'id' as const, text: t })) },
);

const eventArb = (eols: readonly Eol[]): fc.Arbitrary<GenEvent> =>
  fc.record({ lines: fc.array(line, { minLength: 1, maxLength: 5 }), eol: fc.constantFrom(...eols) });

const lineSource = (l: Line): string => {
  switch (l.kind) {
    case 'data':
      return `data: ${l.text}`;
    case 'dataTight':
      return `data:${l.text}`;
    case 'dataBare':
      return 'data';
    case 'event':
      return `event: ${l.name}`;
    case 'comment':
      return `:${l.text}`;
    case 'id':
      return `id: ${l.text}`;
  }
};

/** The event as sent on the wire, blank-line terminator included. */
const serialise = (e: GenEvent) => e.lines.map((l) => lineSource(l) + e.eol).join('') + e.eol;

/** What a correct parser makes of the event (the model the parser is checked against). */
const expected = (e: GenEvent): SseEvent => {
  let event: string | undefined;
  const data: string[] = [];
  for (const l of e.lines) {
    if (l.kind === 'data' || l.kind === 'dataTight') data.push(l.text);
    else if (l.kind === 'dataBare') data.push('');
    else if (l.kind === 'event') event = l.name;
  }
  return { raw: serialise(e), event, data: data.join('\n') };
};

/** Cuts bytes at the given positions (any order, duplicates allowed). */
const cut = (bytes: Uint8Array, positions: number[]): Uint8Array[] => {
  const points = [...new Set(positions.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
};

const feed = (chunks: (Uint8Array | string)[]) => {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for (const c of chunks) events.push(...parser.push(c));
  return { events, rest: parser.flush() };
};

const plain = (events: SseEvent[]) => events.map((e) => ({ raw: e.raw, event: e.event, data: e.data }));

const RUNS = { numRuns: 300 };

describe('SseParser', () => {
  it('yields the same events, with the same raw text, for any chunking of \\n and \\r\\n streams', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb(['\n', '\r\n']), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (events, positions) => {
          const wire = events.map(serialise).join('');
          const bytes = enc.encode(wire);
          const whole = feed([bytes]);
          const chunked = feed(cut(bytes, positions));
          assert.deepEqual(plain(chunked.events), plain(whole.events));
          assert.deepEqual(plain(whole.events), events.map(expected));
          assert.equal(chunked.rest, undefined);
          assert.equal(chunked.events.map((e) => e.raw).join(''), wire, 'raw texts add up to the stream');
        },
      ),
      RUNS,
    );
  });

  it('survives one-byte chunks, every cut inside a multi-byte character', () => {
    fc.assert(
      fc.property(fc.array(eventArb(['\n', '\r\n']), { minLength: 1, maxLength: 4 }), (events) => {
        const bytes = enc.encode(events.map(serialise).join(''));
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
        assert.deepEqual(plain(feed(chunks).events), events.map(expected));
      }),
      { numRuns: 100 },
    );
  });

  it('handles bare \\r line endings (allowed by the SSE spec) at any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb(['\n', '\r\n', '\r']), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (events, positions) => {
          const bytes = enc.encode(events.map(serialise).join(''));
          assert.deepEqual(plain(feed(cut(bytes, positions)).events), events.map(expected));
        },
      ),
      RUNS,
    );
  });

  it('gives the same events for string chunks as for byte chunks', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb(['\n', '\r\n']), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (events, positions) => {
          const wire = events.map(serialise).join('');
          // Cut between UTF-16 code units but never inside a surrogate pair.
          const chars = Array.from(wire);
          const points = [...new Set(positions.map((p) => p % (chars.length + 1)))].sort((a, b) => a - b);
          const chunks: string[] = [];
          let from = 0;
          for (const p of points) {
            chunks.push(chars.slice(from, p).join(''));
            from = p;
          }
          chunks.push(chars.slice(from).join(''));
          assert.deepEqual(plain(feed(chunks).events), events.map(expected));
        },
      ),
      RUNS,
    );
  });

  it('returns an unterminated trailing event from flush(), at any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb(['\n', '\r\n']), { maxLength: 4 }),
        eventArb(['\n', '\r\n']),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 30 }),
        (events, tail, endsWithEol, positions) => {
          // The tail has its lines but not the blank line; perhaps not even the last line's end.
          const body = tail.lines.map(lineSource).join(tail.eol);
          const tailWire = endsWithEol ? body + tail.eol : body;
          fc.pre(tailWire.trim() !== '');
          const bytes = enc.encode(events.map(serialise).join('') + tailWire);
          const { events: got, rest } = feed(cut(bytes, positions));
          assert.deepEqual(plain(got), events.map(expected));
          assert.ok(rest, 'flush() returns the trailing event');
          const want = expected(tail);
          assert.equal(rest.raw, tailWire);
          assert.equal(rest.data, want.data);
          assert.equal(rest.event, want.event);
        },
      ),
      RUNS,
    );
  });

  it('completes a multi-byte character split across the last chunk and flush()', () => {
    const bytes = enc.encode('data: 😀');
    const parser = new SseParser();
    assert.deepEqual(parser.push(bytes.subarray(0, bytes.length - 2)), []);
    assert.deepEqual(parser.push(bytes.subarray(bytes.length - 2)), []);
    const rest = parser.flush();
    assert.equal(rest?.data, '😀');
    assert.equal(rest?.raw, 'data: 😀');
  });

  it('returns nothing from flush() when the stream ended on an event boundary or blank lines', () => {
    const parser = new SseParser();
    assert.equal(parser.push('data: a\n\n').length, 1);
    assert.equal(parser.flush(), undefined);
    const blank = new SseParser();
    blank.push('data: b\r\n\r\n\r\n');
    assert.equal(blank.flush(), undefined);
  });

  it('is reusable after flush()', () => {
    const parser = new SseParser();
    parser.push('data: first');
    assert.equal(parser.flush()?.data, 'first');
    const events = parser.push('data: second\n\n');
    assert.deepEqual(plain(events), [{ raw: 'data: second\n\n', event: undefined, data: 'second' }]);
  });

  it('reads an OpenAI chat stream the way it is sent', () => {
    const wire =
      'data: {"id":"c1","choices":[{"delta":{"content":"Hé"}}]}\n\n' +
      'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3}}\n\n' +
      'data: [DONE]\n\n';
    const { events, rest } = feed([enc.encode(wire)]);
    assert.equal(events.length, 3);
    assert.equal(events[2]?.data, '[DONE]');
    assert.equal((JSON.parse(events[0]!.data) as { id: string }).id, 'c1');
    assert.equal(rest, undefined);
  });

  it('reads named Responses API events', () => {
    const wire = 'event: response.created\ndata: {"type":"response.created"}\n\n';
    const { events } = feed([wire]);
    assert.equal(events[0]?.event, 'response.created');
    assert.equal(events[0]?.data, '{"type":"response.created"}');
  });
});
