import type { z } from 'zod';
import { type ConfigWarning, unknownKeyWarning } from './explain.js';
import { fileSchema } from './file-schema.js';

/*
 * CONFIG_FILE keys the schema does not know: a warning each, naming the nearest known key at the
 * same place, and left out so the rest of the file still loads.
 */

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
}
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The object keys the schema allows at `path` (record keys are free, so they pass through). */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType | undefined = fileSchema;
  let depth = 0;
  while (schema !== undefined) {
    const def = defOf(schema);
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable') schema = def.innerType;
    else if (def.type === 'pipe') schema = def.in;
    else if (depth === path.length) return def.shape === undefined ? [] : Object.keys(def.shape);
    else if (def.type === 'object') schema = def.shape?.[String(path[depth++])];
    else if (def.type === 'record') {
      schema = def.valueType;
      depth += 1;
    } else return [];
  }
  return [];
}

const at = (raw: unknown, path: readonly PropertyKey[]): unknown =>
  path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key], raw);

/**
 * Parses CONFIG_FILE's content; unknown keys become warnings (and are dropped), anything else
 * stays an issue of the parse.
 */
export function parseFileKeys(raw: unknown, source: string) {
  const warnings: ConfigWarning[] = [];
  let parsed = fileSchema.safeParse(raw);
  for (let pass = 0; !parsed.success && pass < 8; pass++) {
    const unknown = parsed.error.issues.filter((i) => i.code === 'unrecognized_keys');
    if (unknown.length === 0) break;
    for (const issue of unknown) {
      const node = at(raw, issue.path) as Record<string, unknown>;
      for (const key of issue.keys) {
        const dotted = [...issue.path.map(String), key].join('.');
        const warning = unknownKeyWarning(key, source, knownKeysAt(issue.path));
        warnings.push({ ...warning, variable: dotted, message: warning.message.replace(key, dotted) });
        delete node[key];
      }
    }
    parsed = fileSchema.safeParse(raw);
  }
  return { parsed, warnings };
}
