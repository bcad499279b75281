/** Assertions shared by the conformance suites: an answer validates, or the test fails saying where. */
import assert from 'node:assert/strict';
import type { SpecValidator } from './validator.js';

/** How many generated requests per operation (CONFORMANCE_RUNS overrides; fast-check picks the seed). */
export const RUNS = Number(process.env.CONFORMANCE_RUNS ?? 40);

/** fast-check settings: the run count, and CONFORMANCE_SEED to replay a reported failure. */
export function runs(numRuns = RUNS): { numRuns: number; seed?: number; includeErrorInReport: true } {
  const seed = process.env.CONFORMANCE_SEED;
  const base = { numRuns, includeErrorInReport: true } as const;
  return seed === undefined || seed === '' ? base : { ...base, seed: Number(seed) };
}

const excerpt = (value: unknown): string => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
};

/** Fails unless `value` validates against the component schema `schema` of the description. */
export function assertValid(validator: SpecValidator, schema: string, value: unknown, what: string): void {
  const problems = validator.problems(schema, value);
  if (problems.length === 0) return;
  assert.fail(
    `${what} does not validate against ${validator.id}#/components/schemas/${schema}:\n  ${problems
      .slice(0, 12)
      .join('\n  ')}\n  answer: ${excerpt(value)}`,
  );
}

/** The same, against a schema that is not in the description (a client's type, a documented shape). */
export function assertValidAgainst(
  validator: SpecValidator,
  key: string,
  schema: Record<string, unknown>,
  value: unknown,
  what: string,
): void {
  const problems = validator.problemsAgainst(key, schema, value);
  if (problems.length === 0) return;
  assert.fail(
    `${what} does not validate against ${key}:\n  ${problems.slice(0, 12).join('\n  ')}\n  answer: ${excerpt(value)}`,
  );
}

/** A body that must be JSON. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return assert.fail(`${what} is not JSON: ${excerpt(text)}`);
  }
}

/** Fails unless `value` is what the description documents for `method path` answering `status`. */
export function assertValidRoute(
  validator: SpecValidator,
  method: string,
  path: string,
  status: number,
  value: unknown,
  what: string,
): void {
  const problems = validator.problemsOfRoute(method, path, status, value);
  if (problems.length === 0) return;
  assert.fail(
    `${what} does not validate against ${validator.id} ${method} ${path} → ${status}:\n  ${problems
      .slice(0, 12)
      .join('\n  ')}\n  answer: ${excerpt(value)}`,
  );
}
