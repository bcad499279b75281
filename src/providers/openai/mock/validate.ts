/**
 * Request checks with OpenAI's wording and `param`, so a worker sees in MOCK mode the
 * 400s it would get from the real API. Optional parameters may be null (OpenAI treats
 * null as absent).
 */
import { invalidRequest } from '../../../errors.js';

export type Body = Record<string, unknown>;

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'boolean') return 'a boolean';
  return `a ${typeof v}`;
}

export function wrongType(param: string, expected: string, got: unknown) {
  return invalidRequest(`Invalid type for '${param}': expected ${expected}, but got ${typeName(got)} instead.`, param);
}

export function missing(param: string) {
  return invalidRequest(`Missing required parameter: '${param}'.`, param);
}

export function requireBody(json: unknown): Body {
  if (!isRecord(json)) {
    throw invalidRequest(`Invalid type for request body: expected an object, but got ${typeName(json)} instead.`, null);
  }
  return json;
}

export function requireModel(body: Body): string {
  const model = body.model;
  if (model === undefined || model === null || model === '') {
    throw invalidRequest('you must provide a model parameter', 'model');
  }
  if (typeof model !== 'string') throw wrongType('model', 'a string', model);
  return model;
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

export function optionalInt(
  body: Body,
  param: string,
  min: number,
  max = Number.POSITIVE_INFINITY,
): number | undefined {
  const v = body[param];
  if (!present(v)) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw wrongType(param, 'an integer', v);
  return inRange(param, v, 'integer', min, max);
}

export function optionalNumber(body: Body, param: string, min: number, max: number): number | undefined {
  const v = body[param];
  if (!present(v)) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw wrongType(param, 'a decimal', v);
  return inRange(param, v, 'decimal', min, max);
}

export function optionalBool(body: Body, param: string): boolean | undefined {
  const v = body[param];
  if (!present(v)) return undefined;
  if (typeof v !== 'boolean') throw wrongType(param, 'a boolean', v);
  return v;
}

export function optionalString(body: Body, param: string): string | undefined {
  const v = body[param];
  if (!present(v)) return undefined;
  if (typeof v !== 'string') throw wrongType(param, 'a string', v);
  return v;
}

export function optionalObject(body: Body, param: string): Body | undefined {
  const v = body[param];
  if (!present(v)) return undefined;
  if (!isRecord(v)) throw wrongType(param, 'an object', v);
  return v;
}

/** Sampling knobs both chat and responses accept, checked for range only (the mock ignores them). */
export function checkSampling(body: Body): void {
  optionalNumber(body, 'temperature', 0, 2);
  optionalNumber(body, 'top_p', 0, 1);
  optionalNumber(body, 'presence_penalty', -2, 2);
  optionalNumber(body, 'frequency_penalty', -2, 2);
  optionalInt(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  optionalInt(body, 'top_logprobs', 0, 20);
}

/** OpenAI's wording for a number outside its allowed range. */
function inRange(param: string, v: number, kind: 'integer' | 'decimal', min: number, max: number): number {
  if (v < min) {
    throw invalidRequest(
      `Invalid '${param}': ${kind} below minimum value. Expected a value >= ${min}, but got ${v} instead.`,
      param,
    );
  }
  if (v > max) {
    throw invalidRequest(
      `Invalid '${param}': ${kind} above maximum value. Expected a value <= ${max}, but got ${v} instead.`,
      param,
    );
  }
  return v;
}
