/**
 * Calendar windows (hour, day, month) in a time zone, as budgets count them. A window has an id
 * that names it in store keys (`day:2026-11-28`), so a new window starts from zero by itself.
 */
export type WindowKind = 'hour' | 'day' | 'month';

export interface Window {
  kind: WindowKind;
  id: string;
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const formatter = (timeZone: string) => {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
};

interface Local {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

function localParts(t: number, timeZone: string): Local & { offset: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(t)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return {
    y: parts.year!,
    mo: parts.month!,
    d: parts.day!,
    h: parts.hour!,
    mi: parts.minute!,
    s: parts.second!,
    offset: asUtc - Math.floor(t / 1000) * 1000,
  };
}

/** The UTC instant of a local wall-clock time (DST-aware: corrected once with the offset found there). */
function instant(y: number, mo: number, d: number, h: number, timeZone: string): number {
  const wall = Date.UTC(y, mo - 1, d, h);
  const guess = wall - localParts(wall, timeZone).offset;
  return wall - localParts(guess, timeZone).offset;
}

const pad = (n: number) => String(n).padStart(2, '0');

const dateKey = (y: number, mo: number, d: number) => y * 10_000 + mo * 100 + d;

/**
 * The first instant of a local date. Where the clock jumps over midnight (DST starting at 00:00),
 * local midnight does not exist and the day starts at the first wall time it does have.
 */
function dayStart(y: number, mo: number, d: number, timeZone: string): number {
  const want = dateKey(y, mo, d);
  const dateOf = (x: number) => {
    const p = localParts(x, timeZone);
    return dateKey(p.y, p.mo, p.d);
  };
  let t = instant(y, mo, d, 0, timeZone);
  for (let i = 0; i < 4 && dateOf(t) < want; i++) t += 3_600_000;
  for (let i = 0; i < 4 && dateOf(t - 3_600_000) === want; i++) t -= 3_600_000;
  return t;
}

export function windowAt(kind: WindowKind, t: number, timeZone: string): Window {
  const l = localParts(t, timeZone);
  if (kind === 'hour') {
    // The local hour started this many ms ago (works for half-hour zones too); one real hour long.
    // Named by its UTC start, so the repeated local hour of an autumn clock change is a new window.
    const start = t - ((l.mi * 60 + l.s) * 1000 + (t % 1000));
    return { kind, id: `hour:${new Date(start).toISOString().slice(0, 16)}Z`, start, end: start + 3_600_000 };
  }
  if (kind === 'day') {
    const start = dayStart(l.y, l.mo, l.d, timeZone);
    const next = new Date(Date.UTC(l.y, l.mo - 1, l.d + 1));
    const end = dayStart(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone);
    return { kind, id: `day:${l.y}-${pad(l.mo)}-${pad(l.d)}`, start, end };
  }
  const start = dayStart(l.y, l.mo, 1, timeZone);
  const ny = l.mo === 12 ? l.y + 1 : l.y;
  const nm = l.mo === 12 ? 1 : l.mo + 1;
  return { kind, id: `month:${l.y}-${pad(l.mo)}`, start, end: dayStart(ny, nm, 1, timeZone) };
}

/** Windows cached until they end: the hot path computes each at most once per window. */
export class WindowClock {
  readonly #cache = new Map<WindowKind, Window>();
  constructor(readonly timeZone: string) {}
  at(kind: WindowKind, t: number): Window {
    const w = this.#cache.get(kind);
    if (w !== undefined && t >= w.start && t < w.end) return w;
    const fresh = windowAt(kind, t, this.timeZone);
    this.#cache.set(kind, fresh);
    return fresh;
  }
}
