import { z } from 'zod';

/**
 * The allowed values and field parsers the variables are built from. Each turns a blank value
 * into "not set" and words its error for the operator who has to fix the variable.
 */

export const MODES = ['mock', 'real', 'hybrid', 'record', 'replay'] as const;
export type Mode = (typeof MODES)[number];
/** The modes as a sentence, for error messages. */
export const MODE_LIST = 'mock, real, hybrid, record or replay';
/** Modes in which the provider is called (RECORD forwards exactly as REAL does). */
export const callsUpstream = (mode: Mode): boolean => mode === 'real' || mode === 'hybrid' || mode === 'record';
/** Modes in which a failing provider is an error the worker sees (no mock stands in). */
export const strictUpstream = (mode: Mode): boolean => mode === 'real' || mode === 'record';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const WINDOWS = ['hourly', 'daily', 'monthly'] as const;
export type BudgetWindowName = (typeof WINDOWS)[number];

export const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(min, { error: `must be at least ${min}` })
      .max(max, { error: `must be at most ${max}` }),
  );
export const optInt = (min: number, max?: number) => int(min, max).optional();
export const positive = () =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: 'must be a number' })
      .refine(Number.isFinite, { error: 'must be a finite number' })
      .min(0, { error: 'must not be negative' }),
  );
export const bool = (def: boolean) =>
  z.preprocess(
    blankToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );
export const mode = z.preprocess(
  (v) => (typeof v === 'string' ? blankToUndefined(v.toLowerCase()) : v),
  z.enum(MODES, { error: `must be one of ${MODE_LIST}` }),
);
export const httpUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .refine(
      (s) => {
        try {
          const u = new URL(s);
          return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.search === '';
        } catch {
          return false;
        }
      },
      { error: 'must be an http(s) URL without credentials or query' },
    )
    .transform((s) => s.replace(/\/+$/, '')),
);
export const latency = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('0')
    .transform((s, ctx): [number, number] => {
      const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(s);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'must be milliseconds (e.g. 100) or a range (e.g. 50-200)' });
        return z.NEVER;
      }
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) {
        ctx.addIssue({ code: 'custom', message: 'range must go from low to high' });
        return z.NEVER;
      }
      return [lo, hi];
    }),
);
export const stateUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('sqlite:./data/tollgate.db')
    .refine((s) => s === 'memory:' || /^sqlite:.+/.test(s) || /^rediss?:\/\/.+/.test(s), {
      error: 'must be memory:, sqlite:PATH or redis://…',
    }),
);
export const timezone = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('UTC')
    .refine(
      (tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      },
      { error: 'must be an IANA time zone such as UTC or Europe/Berlin' },
    ),
);
