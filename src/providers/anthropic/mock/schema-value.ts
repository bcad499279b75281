/**
 * A value that fits a tool's `input_schema` (JSON Schema), for a forced `tool_use` block: every
 * property (required or not) with a value of its type, honouring `enum`, `const`, `default`,
 * bounds, string lengths and formats, array sizes, and the first branch of `anyOf`/`oneOf`.
 */
import { isObject } from '../../../json.js';
import type { Mulberry32 } from '../../../random.js';
import { between } from './text.js';

type Schema = Record<string, unknown>;
const WORDS = ['alpha', 'report', 'summary', 'berlin', 'paris', 'example', 'value', 'item'];
/** Deep enough for any sane tool schema; a recursive `$ref` loop stops here. */
const MAX_DEPTH = 8;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function stringFor(schema: Schema, rng: Mulberry32): string {
  switch (schema.format) {
    case 'date-time':
      return '2026-01-15T09:30:00Z';
    case 'date':
      return '2026-01-15';
    case 'email':
      return 'someone@example.com';
    case 'uri':
    case 'url':
      return 'https://example.com/';
    case 'uuid':
      return '123e4567-e89b-42d3-a456-426614174000';
  }
  let s = WORDS[Math.floor(rng.next() * WORDS.length)] as string;
  const min = num(schema.minLength) ?? 0;
  const max = num(schema.maxLength);
  while (s.length < min) s += 'x';
  return max !== undefined ? s.slice(0, Math.max(min, max)) : s;
}

function numberFor(schema: Schema, rng: Mulberry32, integer: boolean): number {
  const low = num(schema.minimum) ?? (num(schema.exclusiveMinimum) ?? -1) + 1;
  const high = num(schema.maximum) ?? (num(schema.exclusiveMaximum) ?? low + 101) - 1;
  if (integer) return between(rng, Math.ceil(low), Math.max(Math.ceil(low), Math.floor(high)));
  return Math.round((low + rng.next() * Math.max(0, high - low)) * 100) / 100;
}

function typeOf(schema: Schema): string | undefined {
  if (typeof schema.type === 'string') return schema.type;
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null') ?? schema.type[0];
  if (isObject(schema.properties)) return 'object';
  if (schema.items !== undefined) return 'array';
  return undefined;
}

function objectFor(schema: Schema, rng: Mulberry32, defs: Schema, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = isObject(schema.properties) ? schema.properties : {};
  for (const [name, sub] of Object.entries(props)) out[name] = valueFor(isObject(sub) ? sub : {}, rng, defs, depth + 1);
  return out;
}

/** A value that validates against `schema`. */
export function valueFor(schema: Schema, rng: Mulberry32, defs: Schema = schema, depth = 0): unknown {
  if (depth > MAX_DEPTH) return null;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ('default' in schema) return schema.default;
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref
      .split('/')
      .slice(1)
      .reduce<unknown>((at, key) => (isObject(at) ? at[key] : undefined), defs);
    return valueFor(isObject(target) ? target : {}, rng, defs, depth + 1);
  }
  const branches = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : undefined;
  if (branches !== undefined && isObject(branches[0])) return valueFor(branches[0], rng, defs, depth + 1);
  switch (typeOf(schema)) {
    case 'object':
      return objectFor(schema, rng, defs, depth);
    case 'array': {
      const items = isObject(schema.items) ? schema.items : {};
      const n = Math.max(num(schema.minItems) ?? 1, 1);
      const max = num(schema.maxItems);
      const length = max !== undefined ? Math.min(n, max) : n;
      return Array.from({ length }, () => valueFor(items, rng, defs, depth + 1));
    }
    case 'string':
      return stringFor(schema, rng);
    case 'integer':
      return numberFor(schema, rng, true);
    case 'number':
      return numberFor(schema, rng, false);
    case 'boolean':
      return rng.next() < 0.5;
    case 'null':
      return null;
    default:
      return {};
  }
}
