/**
 * Validates answers against an OpenAPI 3.1 document's component schemas with ajv (JSON Schema
 * 2020-12). The whole document is added as one schema with an id, so every
 * `$ref: '#/components/schemas/…'` resolves inside it; validators are compiled once per schema.
 *
 * The documents carry OpenAPI 3.0 leftovers the 2020-12 dialect does not know: `nullable: true`
 * (rewritten to `anyOf: [schema, {type: 'null'}]`) and `format: unixtime` (a number of seconds).
 * The known differences between a description and the real API (./differences.ts) are applied
 * to the document before anything is compiled.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import type { KnownDifference } from './differences.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `nullable: true` (OpenAPI 3.0) as 2020-12 says it; the document is rewritten in place. */
export function rewriteNullable(node: unknown): number {
  let rewritten = 0;
  if (Array.isArray(node)) {
    for (const item of node) rewritten += rewriteNullable(item);
    return rewritten;
  }
  if (!isObject(node)) return 0;
  for (const value of Object.values(node)) rewritten += rewriteNullable(value);
  if (node.nullable === true) {
    const { nullable: _nullable, description, title, ...schema } = node;
    for (const key of Object.keys(node)) delete node[key];
    Object.assign(node, {
      ...(title === undefined ? {} : { title }),
      ...(description === undefined ? {} : { description }),
    });
    node.anyOf = [schema, { type: 'null' }];
    rewritten += 1;
  }
  return rewritten;
}

function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const params = Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : '';
    return `${e.instancePath || '(root)'} ${e.message ?? e.keyword}${params} [${e.schemaPath}]`;
  });
}

export interface SpecValidator {
  /** The document's id, e.g. 'openai'. */
  id: string;
  /** The component schemas after the known differences were applied. */
  schemas: Json;
  /** Problems of `value` against `#/components/schemas/<name>`; empty when it validates. */
  problems(name: string, value: unknown): string[];
  /**
   * Problems of `value` as the answer of `method path` with `status`, against the schema the
   * document gives that response (`path` as the document spells it, e.g. `/api/v1/parsing/job/{job_id}`).
   */
  problemsOfRoute(method: string, path: string, status: number, value: unknown): string[];
  /** Problems against a schema that is not in the document (a supplement), compiled once by key. */
  problemsAgainst(key: string, schema: Json, value: unknown): string[];
}

export function createSpecValidator(id: string, doc: Json, differences: readonly KnownDifference[]): SpecValidator {
  const copy = structuredClone(doc);
  const components = isObject(copy.components) ? copy.components : {};
  const schemas = isObject(components.schemas) ? components.schemas : {};
  rewriteNullable(copy);
  for (const difference of differences) difference.apply(schemas);

  // strict: false: the documents carry vendor keywords (x-oaiMeta, x-stainless-const, example…).
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  // ajv-formats is CommonJS: its default import is the module, whose `default` is the plugin.
  formats.default(ajv);
  ajv.addFormat('unixtime', { type: 'number', validate: (n: number) => Number.isFinite(n) && n >= 0 });
  ajv.addSchema(copy, id);
  const compiled = new Map<string, ValidateFunction>();
  const validator = (key: string, make: () => ValidateFunction): ValidateFunction => {
    let v = compiled.get(key);
    if (v === undefined) {
      v = make();
      compiled.set(key, v);
    }
    return v;
  };
  return {
    id,
    schemas,
    problems(name, value) {
      if (!isObject(schemas[name])) return [`the description has no component schema named ${name}`];
      const validate = validator(name, () => {
        const found = ajv.getSchema(`${id}#/components/schemas/${name}`);
        if (found === undefined) throw new Error(`cannot compile ${id}#/components/schemas/${name}`);
        return found;
      });
      return validate(value) ? [] : formatErrors(validate.errors);
    },
    problemsOfRoute(method, path, status, value) {
      const operation = (isObject(copy.paths) ? copy.paths[path] : undefined) as Json | undefined;
      const responses = isObject(operation?.[method.toLowerCase()]) ? (operation[method.toLowerCase()] as Json) : {};
      const response = isObject(responses.responses) ? responses.responses[String(status)] : undefined;
      if (!isObject(response)) return [`the description documents no ${status} answer for ${method} ${path}`];
      const segments = [
        'paths',
        path,
        method.toLowerCase(),
        'responses',
        String(status),
        'content',
        'application/json',
        'schema',
      ];
      const pointer = segments.map((s) => encodeURIComponent(s.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/');
      const validate = validator(`route:${pointer}`, () => {
        const found = ajv.getSchema(`${id}#/${pointer}`);
        if (found === undefined) throw new Error(`cannot compile ${id}#/${pointer}`);
        return found;
      });
      return validate(value) ? [] : formatErrors(validate.errors);
    },
    problemsAgainst(key, schema, value) {
      const validate = validator(`extra:${key}`, () => ajv.compile(schema));
      return validate(value) ? [] : formatErrors(validate.errors);
    },
  };
}
