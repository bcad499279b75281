/**
 * What a refused call could ask for instead: when a request field (`max_tokens`) made the worst
 * case, how large it may be for the call to fit what is left. Phrases the hint a 429 ends with.
 */

/** The request field that sized the worst case, with the prices and counts that do not depend on it. */
export interface AdmitSizing {
  /** `max_tokens`, `max_completion_tokens`, `max_output_tokens`. */
  param: string;
  value: number;
  /** Units of the sized amount per unit of `param` (`n` choices each get `max_tokens`). */
  perUnit: number;
  /** False when the field was absent and `defaultVar`'s value stood in. */
  given: boolean;
  defaultVar: string;
  /** Worst-case USD and tokens of everything but the sized part (the prompt). */
  fixedUsd: number;
  fixedTokens: number;
  /** USD per unit of `param` (its price × perUnit). */
  usdPerUnit: number;
}

/** Dollars as the hints write them: four decimals, six under a cent. */
export const dollars = (usd: number) => `$${usd.toFixed(usd !== 0 && Math.abs(usd) < 0.01 ? 6 : 4)}`;

const assumed = (s: AdmitSizing) =>
  s.given ? `${s.param}=${s.value}` : `${s.param}=${s.value} (${s.defaultVar}, as the request set no ${s.param})`;

const most = (s: AdmitSizing, units: number, room: string, fixed: string) =>
  units >= 1 ? `${room}, ${s.param} ≤ ${units} would fit.` : `${room}, no ${s.param} would fit: ${fixed}.`;

/** The hint of a budget refusal: `the worst case $0.0123 assumes max_tokens=4096; with $0.0040 left, max_tokens ≤ 1300 would fit`. */
export function budgetFit(s: AdmitSizing | undefined, worstUsd: number, leftUsd: number): string | undefined {
  if (s === undefined || s.usdPerUnit <= 0) return undefined;
  const left = Math.max(0, leftUsd);
  // In nano-dollars, so float noise (0.004 − 0.00025 = 0.00374999…) does not cost a unit.
  const room = Math.round(left * 1e9) - Math.round(s.fixedUsd * 1e9);
  const units = Math.floor(room / (s.usdPerUnit * 1e9) + 1e-9);
  return `The worst case ${dollars(worstUsd)} assumes ${assumed(s)}; ${most(
    s,
    Math.min(units, s.value - 1),
    `with ${dollars(left)} left`,
    `the prompt alone may cost ${dollars(s.fixedUsd)}`,
  )}`;
}

/** The hint of a tokens bucket the call can never fit: how large `param` may be within its capacity. */
export function bucketFit(s: AdmitSizing | undefined, needed: number, capacity: number): string | undefined {
  if (s === undefined || s.perUnit <= 0) return undefined;
  const units = Math.floor((capacity - s.fixedTokens) / s.perUnit);
  return `The ${needed} tokens assume ${assumed(s)}; ${most(
    s,
    Math.min(units, s.value - 1),
    `with a capacity of ${capacity}`,
    `the prompt alone is ${s.fixedTokens} tokens`,
  )}`;
}
