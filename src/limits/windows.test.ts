import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Window, WindowClock, type WindowKind, windowAt } from './windows.js';

const at = (iso: string) => Date.parse(iso);
const HOUR = 3_600_000;

/** A window as readable ISO strings, for one deepEqual per expectation. */
const view = (w: Window) => ({ id: w.id, start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString() });

describe('calendar windows (windowAt)', () => {
  it('UTC: hour, day and month ids with their start and end', () => {
    const t = at('2026-11-28T13:45:12.345Z');
    assert.deepEqual(view(windowAt('hour', t, 'UTC')), {
      id: 'hour:2026-11-28T13:00Z',
      start: '2026-11-28T13:00:00.000Z',
      end: '2026-11-28T14:00:00.000Z',
    });
    assert.deepEqual(view(windowAt('day', t, 'UTC')), {
      id: 'day:2026-11-28',
      start: '2026-11-28T00:00:00.000Z',
      end: '2026-11-29T00:00:00.000Z',
    });
    assert.deepEqual(view(windowAt('month', t, 'UTC')), {
      id: 'month:2026-11',
      start: '2026-11-01T00:00:00.000Z',
      end: '2026-12-01T00:00:00.000Z',
    });
    assert.equal(windowAt('day', t, 'UTC').kind, 'day');
  });

  it('UTC: the start instant belongs to its window, the end instant to the next', () => {
    assert.equal(windowAt('day', at('2026-11-28T00:00:00.000Z'), 'UTC').id, 'day:2026-11-28');
    assert.equal(windowAt('day', at('2026-11-27T23:59:59.999Z'), 'UTC').id, 'day:2026-11-27');
    assert.equal(windowAt('hour', at('2026-11-28T13:59:59.999Z'), 'UTC').id, 'hour:2026-11-28T13:00Z');
    assert.equal(windowAt('hour', at('2026-11-28T14:00:00.000Z'), 'UTC').id, 'hour:2026-11-28T14:00Z');
  });

  it('UTC: December rolls over into January of the next year; February of a leap year has 29 days', () => {
    assert.deepEqual(view(windowAt('month', at('2026-12-31T23:59:59Z'), 'UTC')), {
      id: 'month:2026-12',
      start: '2026-12-01T00:00:00.000Z',
      end: '2027-01-01T00:00:00.000Z',
    });
    assert.deepEqual(view(windowAt('day', at('2026-12-31T12:00:00Z'), 'UTC')), {
      id: 'day:2026-12-31',
      start: '2026-12-31T00:00:00.000Z',
      end: '2027-01-01T00:00:00.000Z',
    });
    const feb = windowAt('month', at('2028-02-15T00:00:00Z'), 'UTC');
    assert.equal(feb.end - feb.start, 29 * 24 * HOUR);
  });

  it('Europe/Berlin, March DST change (hour ids name their UTC start): 29 March 2026 is a 23-hour day', () => {
    const day = windowAt('day', at('2026-03-29T12:00:00Z'), 'Europe/Berlin');
    assert.deepEqual(view(day), {
      id: 'day:2026-03-29',
      start: '2026-03-28T23:00:00.000Z', // midnight CET (+1)
      end: '2026-03-29T22:00:00.000Z', // midnight CEST (+2)
    });
    assert.equal(day.end - day.start, 23 * HOUR);
    // Just after local midnight (still CET) is the same day.
    assert.equal(windowAt('day', at('2026-03-28T23:30:00Z'), 'Europe/Berlin').id, 'day:2026-03-29');
    // 02:00 local does not exist: 01:30 UTC is 03:30 CEST.
    assert.deepEqual(view(windowAt('hour', at('2026-03-29T01:30:00Z'), 'Europe/Berlin')), {
      id: 'hour:2026-03-29T01:00Z',
      start: '2026-03-29T01:00:00.000Z',
      end: '2026-03-29T02:00:00.000Z',
    });
    assert.equal(windowAt('hour', at('2026-03-29T00:30:00Z'), 'Europe/Berlin').id, 'hour:2026-03-29T00:00Z');
  });

  it('Europe/Berlin, October DST change: 25 October 2026 is a 25-hour day', () => {
    const day = windowAt('day', at('2026-10-25T12:00:00Z'), 'Europe/Berlin');
    assert.deepEqual(view(day), {
      id: 'day:2026-10-25',
      start: '2026-10-24T22:00:00.000Z', // midnight CEST (+2)
      end: '2026-10-25T23:00:00.000Z', // midnight CET (+1)
    });
    assert.equal(day.end - day.start, 25 * HOUR);
    // The days around it are 24 hours and meet it exactly.
    const before = windowAt('day', at('2026-10-24T12:00:00Z'), 'Europe/Berlin');
    const after = windowAt('day', at('2026-10-26T12:00:00Z'), 'Europe/Berlin');
    assert.equal(before.end, day.start);
    assert.equal(after.start, day.end);
    assert.equal(before.end - before.start, 24 * HOUR);
    // Months across both changes: March has 743 hours, October 745.
    const march = windowAt('month', at('2026-03-15T00:00:00Z'), 'Europe/Berlin');
    const october = windowAt('month', at('2026-10-15T00:00:00Z'), 'Europe/Berlin');
    assert.equal((march.end - march.start) / HOUR, 31 * 24 - 1);
    assert.equal((october.end - october.start) / HOUR, 31 * 24 + 1);
    assert.equal(new Date(october.start).toISOString(), '2026-09-30T22:00:00.000Z');
  });

  // Regression, fixed (src/limits/windows.ts:70-73, hour branch): in the repeated hour of an autumn DST change the id is
  // the local wall-clock hour, so two different real hours (00:00–01:00Z and 01:00–02:00Z on
  // 2026-10-25 in Berlin) get the same id `hour:2026-10-25T02` with different start/end. Budget keys
  // (`spent:total:hour:…`, `budget:total:hour:…`) are built from the id, so the second hour does not start
  // from zero (the module's own doc: "a new window starts from zero by itself"), while /admin/costs?window=hour
  // counts only the real hour [start, end): budgets[].spent_usd and total disagree for that hour.
  it('regression: hour ids repeat in the autumn DST hour: two different real hours share `hour:2026-10-25T02` (Berlin)', {}, () => {
    const first = windowAt('hour', at('2026-10-25T00:30:00Z'), 'Europe/Berlin');
    const second = windowAt('hour', at('2026-10-25T01:30:00Z'), 'Europe/Berlin');
    assert.equal(first.end, second.start);
    assert.notEqual(first.id, second.id, 'two different windows need two different ids');
  });

  it('Asia/Kolkata (+5:30): hour windows start at :30 UTC, days at 18:30 UTC', () => {
    const t = at('2026-11-28T13:45:00Z'); // 19:15 IST
    assert.deepEqual(view(windowAt('hour', t, 'Asia/Kolkata')), {
      id: 'hour:2026-11-28T13:30Z',
      start: '2026-11-28T13:30:00.000Z',
      end: '2026-11-28T14:30:00.000Z',
    });
    assert.deepEqual(view(windowAt('day', t, 'Asia/Kolkata')), {
      id: 'day:2026-11-28',
      start: '2026-11-27T18:30:00.000Z',
      end: '2026-11-28T18:30:00.000Z',
    });
    // 18:45 UTC is already the 29th in India.
    assert.equal(windowAt('day', at('2026-11-28T18:45:00Z'), 'Asia/Kolkata').id, 'day:2026-11-29');
    assert.equal(windowAt('hour', at('2026-11-28T13:29:59Z'), 'Asia/Kolkata').id, 'hour:2026-11-28T12:30Z');
  });

  it('America/New_York: the month ends at local midnight, across the November DST change', () => {
    // 22:00 EST on 30 November is 03:00 UTC on 1 December: still November in New York.
    const t = at('2026-12-01T03:00:00Z');
    assert.deepEqual(view(windowAt('month', t, 'America/New_York')), {
      id: 'month:2026-11',
      start: '2026-11-01T04:00:00.000Z', // midnight EDT: DST ends at 02:00 on 1 November 2026
      end: '2026-12-01T05:00:00.000Z', // midnight EST
    });
    assert.deepEqual(view(windowAt('day', t, 'America/New_York')), {
      id: 'day:2026-11-30',
      start: '2026-11-30T05:00:00.000Z',
      end: '2026-12-01T05:00:00.000Z',
    });
    assert.equal(windowAt('month', at('2026-12-01T05:00:00Z'), 'America/New_York').id, 'month:2026-12');
    assert.deepEqual(view(windowAt('month', at('2027-01-01T03:00:00Z'), 'America/New_York')), {
      id: 'month:2026-12',
      start: '2026-12-01T05:00:00.000Z',
      end: '2027-01-01T05:00:00.000Z',
    });
  });

  // Property: in zones with ordinary (not-at-midnight) DST rules, every window contains the instant it was
  // asked for, consecutive windows meet exactly, and the next window has another id.
  const zones = ['UTC', 'Europe/Berlin', 'Asia/Kolkata', 'America/New_York', 'Australia/Sydney', 'Asia/Kathmandu'];
  const instant = fc.integer({ min: at('2025-01-01T00:00:00Z'), max: at('2028-12-31T00:00:00Z') });
  const kinds = fc.constantFrom<WindowKind>('day', 'month');

  it('every day/month window contains its instant and meets the next one exactly, with a new id', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...zones), kinds, (t, tz, kind) => {
        const w = windowAt(kind, t, tz);
        assert.ok(w.start <= t && t < w.end, `${tz} ${kind} ${new Date(t).toISOString()} not in ${w.id}`);
        const next = windowAt(kind, w.end, tz);
        assert.equal(next.start, w.end);
        assert.notEqual(next.id, w.id);
        assert.equal(windowAt(kind, w.end - 1, tz).id, w.id);
        assert.equal(windowAt(kind, w.start, tz).id, w.id);
      }),
      { numRuns: 2000 },
    );
  });

  it('every hour window is one real hour that contains its instant', () => {
    fc.assert(
      fc.property(instant, fc.constantFrom(...zones), (t, tz) => {
        const w = windowAt('hour', t, tz);
        assert.ok(w.start <= t && t < w.end);
        assert.equal(w.end - w.start, HOUR);
        assert.equal(windowAt('hour', w.end, tz).start, w.end);
      }),
      { numRuns: 2000 },
    );
  });

  // Regression, fixed (src/limits/windows.ts:60-63 `instant`): where DST starts AT midnight (America/Santiago on
  // 2026-09-06, America/Havana on 2026-03-08), local 00:00 does not exist; `instant` maps it one hour too
  // early (to 23:00 of the day before), so the previous day ends an hour early. For t in that last hour,
  // windowAt('day', t) returns `day:2026-09-05` whose end (03:00Z) is BEFORE t: the window does not contain
  // its instant. Spend booked in that hour goes to the old day's budget key, while /admin/costs for the new
  // day counts it; WindowClock never caches that hour (every call recomputes). Expected: day 09-05 =
  // [04:00Z Sep 5, 04:00Z Sep 6) and day 09-06 = [04:00Z Sep 6, 03:00Z Sep 7) (23 h).
  it('regression: midnight DST start (America/Santiago, America/Havana): the day window does not contain its instant', {}, () => {
    const t = at('2026-09-06T03:30:00Z'); // 23:30 on 5 September in Santiago (-4)
    const w = windowAt('day', t, 'America/Santiago');
    assert.equal(w.id, 'day:2026-09-05');
    assert.ok(w.start <= t && t < w.end, `${view(w).id} ends ${view(w).end}, before ${new Date(t).toISOString()}`);
    const havana = at('2026-03-08T04:30:00Z'); // 23:30 on 7 March in Havana (-5)
    const h = windowAt('day', havana, 'America/Havana');
    assert.ok(h.start <= havana && havana < h.end);
  });
});

describe('WindowClock', () => {
  it('returns the cached window for every instant inside it', () => {
    const clock = new WindowClock('Europe/Berlin');
    const t = at('2026-11-28T10:00:00Z');
    const first = clock.at('day', t);
    assert.equal(clock.at('day', t + 5 * HOUR), first, 'the same object: not recomputed');
    assert.equal(clock.at('day', first.start), first);
    assert.equal(clock.at('day', first.end - 1), first);
    assert.equal(clock.timeZone, 'Europe/Berlin');
  });

  it('rolls over at the boundary, and keeps each kind separately', () => {
    const clock = new WindowClock('UTC');
    const t = at('2026-11-28T23:59:59.999Z');
    const day = clock.at('day', t);
    const hour = clock.at('hour', t);
    assert.equal(day.id, 'day:2026-11-28');
    assert.equal(hour.id, 'hour:2026-11-28T23:00Z');
    const next = clock.at('day', day.end);
    assert.notEqual(next, day);
    assert.deepEqual(view(next), {
      id: 'day:2026-11-29',
      start: '2026-11-29T00:00:00.000Z',
      end: '2026-11-30T00:00:00.000Z',
    });
    assert.equal(clock.at('hour', hour.end).id, 'hour:2026-11-29T00:00Z');
    assert.equal(clock.at('month', t).id, 'month:2026-11');
    assert.equal(clock.at('month', day.end).id, 'month:2026-11');
    // Going back in time (a clock step) gives the right window again, not the cached one.
    assert.equal(clock.at('day', t).id, 'day:2026-11-28');
  });

  it('agrees with windowAt at every instant of a walk across a DST change', () => {
    const clock = new WindowClock('Europe/Berlin');
    for (let t = at('2026-10-24T20:00:00Z'); t < at('2026-10-26T02:00:00Z'); t += 7 * 60_000) {
      for (const kind of ['hour', 'day', 'month'] as const) {
        assert.deepEqual(clock.at(kind, t), windowAt(kind, t, 'Europe/Berlin'));
      }
    }
  });
});
