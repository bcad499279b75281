/**
 * JSON values that satisfy a JSON Schema (the subset OpenAI structured outputs and tool
 * parameters use: object/array/string/number/integer/boolean/null, enum, const, anyOf,
 * oneOf, allOf, $ref to $defs/definitions, min/max bounds, string formats), drawn from a
 * seeded generator so the same schema and seed give the same value.
 */
import type { Rng } from './prng.js';
import { phrase, word } from './text.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

// Recursive schemas (a tree node whose children are nodes) must end somewhere.
const MAX_DEPTH = 6;

function resolveRef(root: Record<string, unknown>, ref: string): unknown {
  if (!ref.startsWith('#')) return {};
  const segments = ref
    .slice(1)
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => decodeURIComponent(s).replaceAll('~1', '/').replaceAll('~0', '~'));
  let node: unknown = root;
  for (const segment of segments) node = isRecord(node) ? node[segment] : undefined;
  return node ?? {};
}

function stringFor(schema: Record<string, unknown>, rng: Rng, key: string | undefined): string {
  switch (schema.format) {
    case 'date-time':
      return new Date(Date.UTC(2024, rng.int(0, 11), rng.int(1, 28), rng.int(0, 23), rng.int(0, 59))).toISOString();
    case 'date':
      return `2024-${String(rng.int(1, 12)).padStart(2, '0')}-${String(rng.int(1, 28)).padStart(2, '0')}`;
    case 'time':
      return `${String(rng.int(0, 23)).padStart(2, '0')}:${String(rng.int(0, 59)).padStart(2, '0')}:00`;
    case 'email':
      return `${word(rng)}.${word(rng)}@example.com`;
    case 'uri':
    case 'url':
      return `https://example.com/${word(rng)}/${rng.int(1, 999)}`;
    case 'uuid': {
      const hex = () => rng.int(0, 0xffff).toString(16).padStart(4, '0');
      return `${hex()}${hex()}-${hex()}-4${hex().slice(1)}-a${hex().slice(1)}-${hex()}${hex()}${hex()}`;
    }
    case 'ipv4':
      return `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
    default:
      break;
  }
  const min = num(schema.minLength) ?? 0;
  const max = num(schema.maxLength) ?? Number.POSITIVE_INFINITY;
  let text = key !== undefined && /name|title/i.test(key) ? phrase(rng, 3) : phrase(rng, 6);
  while (text.length < min) text += ` ${phrase(rng, 3)}`;
  if (text.length > max) text = text.slice(0, max);
  return text;
}

function numberFor(schema: Record<string, unknown>, rng: Rng, integer: boolean): number {
  let min = num(schema.minimum) ?? Number.NEGATIVE_INFINITY;
  let max = num(schema.maximum) ?? Number.POSITIVE_INFINITY;
  const exMin = num(schema.exclusiveMinimum);
  const exMax = num(schema.exclusiveMaximum);
  if (exMin !== undefined) min = Math.max(min, integer ? Math.floor(exMin) + 1 : exMin + 1e-6);
  if (exMax !== undefined) max = Math.min(max, integer ? Math.ceil(exMax) - 1 : exMax - 1e-6);
  if (!Number.isFinite(min) && !Number.isFinite(max)) {
    min = 0;
    max = 100;
  } else if (!Number.isFinite(min)) min = max - 100;
  else if (!Number.isFinite(max)) max = min + 100;
  if (integer) {
    const lo = Math.ceil(min);
    const hi = Math.floor(max);
    const value = hi < lo ? lo : rng.int(lo, hi);
    const step = num(schema.multipleOf);
    return step !== undefined && Number.isInteger(step) && step > 0 ? Math.ceil(value / step) * step : value;
  }
  return Math.round((min + rng.next() * (max - min)) * 100) / 100;
}

function valueFor(root: Record<string, unknown>, schemaIn: unknown, rng: Rng, depth: number, key?: string): Json {
  let schema = isRecord(schemaIn) ? schemaIn : {};
  for (let hops = 0; typeof schema.$ref === 'string' && hops < 16; hops++) {
    const target = resolveRef(root, schema.$ref);
    schema = isRecord(target) ? target : {};
  }
  if ('const' in schema) return (schema.const ?? null) as Json;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return rng.pick(schema.enum) as Json;
  for (const combinator of ['anyOf', 'oneOf'] as const) {
    const options = schema[combinator];
    if (Array.isArray(options) && options.length > 0) {
      // Past the depth limit prefer a null branch, which is how optional recursion is usually spelled.
      const nullBranch = options.find((o) => isRecord(o) && o.type === 'null');
      const chosen = depth >= MAX_DEPTH && nullBranch !== undefined ? nullBranch : rng.pick(options);
      return valueFor(root, chosen, rng, depth + 1, key);
    }
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
    // Merge object parts; good enough for the common 'base & extension' use.
    const merged: Record<string, unknown> = { type: 'object', properties: {}, required: [] };
    for (const part of schema.allOf) {
      const p = isRecord(part) && typeof part.$ref === 'string' ? resolveRef(root, part.$ref) : part;
      if (!isRecord(p)) continue;
      Object.assign(merged.properties as Record<string, unknown>, isRecord(p.properties) ? p.properties : {});
      if (Array.isArray(p.required)) (merged.required as unknown[]).push(...p.required);
    }
    return valueFor(root, merged, rng, depth + 1, key);
  }

  let type = schema.type;
  if (Array.isArray(type)) {
    const nonNull = type.filter((t) => t !== 'null');
    type = nonNull.length > 0 ? rng.pick(nonNull) : 'null';
  }
  if (type === undefined) {
    if (isRecord(schema.properties)) type = 'object';
    else if (schema.items !== undefined) type = 'array';
    else type = 'string';
  }

  switch (type) {
    case 'null':
      return null;
    case 'boolean':
      return rng.next() < 0.5;
    case 'integer':
      return numberFor(schema, rng, true);
    case 'number':
      return numberFor(schema, rng, false);
    case 'string':
      return stringFor(schema, rng, key);
    case 'array': {
      const minItems = num(schema.minItems) ?? (depth >= MAX_DEPTH ? 0 : 1);
      const maxItems = Math.max(minItems, num(schema.maxItems) ?? (depth >= MAX_DEPTH ? minItems : minItems + 2));
      const count = rng.int(minItems, Math.min(maxItems, minItems + 4));
      const out: Json[] = [];
      if (Array.isArray(schema.prefixItems)) {
        for (const item of schema.prefixItems) out.push(valueFor(root, item, rng, depth + 1, key));
      }
      while (out.length < count) out.push(valueFor(root, schema.items, rng, depth + 1, key));
      return out;
    }
    default: {
      const out: { [key: string]: Json } = {};
      const properties = isRecord(schema.properties) ? schema.properties : {};
      const required = new Set(Array.isArray(schema.required) ? schema.required : []);
      for (const [name, sub] of Object.entries(properties)) {
        // Optional properties are left out when deep, so recursive schemas terminate.
        if (!required.has(name) && depth >= MAX_DEPTH) continue;
        out[name] = valueFor(root, sub, rng, depth + 1, name);
      }
      return out;
    }
  }
}

/** A value that validates against `schema`. */
export function generateFromSchema(schema: unknown, rng: Rng): Json {
  const root = isRecord(schema) ? schema : {};
  return valueFor(root, root, rng, 0);
}

/** A small free-form JSON object, for `response_format: {type: "json_object"}`. */
export function generateJsonObject(rng: Rng): Json {
  return generateFromSchema(
    {
      type: 'object',
      properties: {
        title: { type: 'string' },
        summary: { type: 'string', minLength: 40 },
        tags: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 4 },
        score: { type: 'number', minimum: 0, maximum: 1 },
        confidence: { type: 'string', enum: ['low', 'medium', 'high'] },
      },
      required: ['title', 'summary', 'score', 'confidence'],
    },
    rng,
  );
}
