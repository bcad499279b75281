/**
 * Every place where a provider's published description is narrower than what its API really
 * answers, in one list, each with its reason and evidence. The validator applies them to the
 * description before compiling it (a patch of the schema, never a filter on errors, so nothing
 * else is masked). A difference whose target has moved fails loudly: the description changed
 * and the exception must be looked at again.
 */

type Json = Record<string, unknown>;

export interface KnownDifference {
  /** A stable name, as docs/integration-report.md lists it. */
  id: string;
  /** Which description: 'openai' or 'llamacloud'. */
  spec: string;
  /** The component schema patched. */
  schema: string;
  /** What the description says and what the API does. */
  reason: string;
  /** Where that is shown. */
  evidence: string;
  /** Patches the document's component schemas. */
  apply(schemas: Json): void;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The object at `path` under `root`, or an error naming the difference whose target moved. */
function at(root: Json, id: string, path: string[]): Json {
  let node: unknown = root;
  for (const key of path) node = Array.isArray(node) ? node[Number(key)] : isObject(node) ? node[key] : undefined;
  if (!isObject(node)) throw new Error(`known difference ${id}: ${path.join('.')} is not in the description any more`);
  return node;
}

/** Replaces the property schema with `anyOf: [its old schema, extra]`. */
function widen(schemas: Json, id: string, path: string[], expect: (old: Json) => boolean, extra: Json): void {
  const parent = at(schemas, id, path.slice(0, -1));
  const key = path[path.length - 1] as string;
  const old = at(schemas, id, path);
  if (!expect(old)) throw new Error(`known difference ${id}: ${path.join('.')} changed: ${JSON.stringify(old)}`);
  parent[key] = { anyOf: [old, extra] };
}

/** `oneOf` whose members overlap: as `anyOf`, which is what the request or answer can be. */
function overlapping(schemas: Json, id: string, path: string[]): void {
  const node = at(schemas, id, path);
  if (!Array.isArray(node.oneOf)) throw new Error(`known difference ${id}: ${path.join('.')} has no oneOf any more`);
  node.anyOf = node.oneOf;
  delete node.oneOf;
}

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    id: 'openai.responses.user-null',
    spec: 'openai',
    schema: 'ModelResponseProperties',
    reason:
      'The Response object inherits `user` from ModelResponseProperties as `type: string`, but the API answers ' +
      '`"user": null` when the request set none (the field is deprecated, replaced by safety_identifier).',
    evidence:
      'The same openapi.json: every Response example in x-oaiMeta (28 of them, e.g. "The response object") ' +
      'shows `"user": null`; openai-python types it `Optional[str]`.',
    apply: (schemas) =>
      widen(
        schemas,
        'openai.responses.user-null',
        ['ModelResponseProperties', 'properties', 'user'],
        (old) => old.type === 'string',
        { type: 'null' },
      ),
  },
  {
    id: 'openai.responses.usage-null-in-progress',
    spec: 'openai',
    schema: 'Response',
    reason:
      'Response.usage is a ResponseUsage object, but a response still in progress (the `response.created` and ' +
      '`response.in_progress` stream events) carries `"usage": null`: nothing has been counted yet.',
    evidence:
      'The same openapi.json: the x-oaiMeta examples of ResponseCreatedEvent and ResponseInProgressEvent (16 ' +
      'examples in all) show `"usage": null`; openai-python types it `Optional[ResponseUsage]`.',
    apply: (schemas) => {
      const id = 'openai.responses.usage-null-in-progress';
      const parts = at(schemas, id, ['Response']).allOf;
      const own = Array.isArray(parts)
        ? parts.findIndex((p) => isObject(p) && isObject(p.properties) && 'usage' in p.properties)
        : -1;
      if (own === -1) throw new Error(`known difference ${id}: Response has no own usage property any more`);
      widen(schemas, id, ['Response', 'allOf', String(own), 'properties', 'usage'], (old) => old.$ref !== undefined, {
        type: 'null',
      });
    },
  },
  {
    id: 'openai.embeddings.base64',
    spec: 'openai',
    schema: 'Embedding',
    reason:
      '`Embedding.embedding` is described as an array of floats only, but with `encoding_format: "base64"` (a ' +
      'documented request value) the API answers a base64 string of little-endian float32s.',
    evidence:
      'CreateEmbeddingRequest.encoding_format: enum [float, base64] in the same openapi.json; the official ' +
      '`openai` Node SDK asks for base64 by default and decodes the string (resources/embeddings.js).',
    apply: (schemas) =>
      widen(
        schemas,
        'openai.embeddings.base64',
        ['Embedding', 'properties', 'embedding'],
        (old) => old.type === 'array',
        { type: 'string', format: 'byte' },
      ),
  },
  {
    id: 'openai.responses.input-item-overlap',
    spec: 'openai',
    schema: 'InputItem',
    reason:
      'InputItem is a `oneOf` of EasyInputMessage, Item (whose InputMessage) and others, told apart by a ' +
      '`discriminator` on `type`; but `type` is optional and EasyInputMessage accepts every InputMessage, so a ' +
      'plain `{role: "user", content: [{type: "input_text", …}]}` matches two members and fails a strict oneOf. ' +
      'Validated as anyOf (request side only: it checks the generated requests, not an answer).',
    evidence:
      'The same openapi.json: EasyInputMessage.role enum ⊇ InputMessage.role enum, both with `type` optional; ' +
      "OpenAI's Responses guide sends exactly that input shape.",
    apply: (schemas) => overlapping(schemas, 'openai.responses.input-item-overlap', ['InputItem']),
  },
];

export const differencesFor = (spec: string): KnownDifference[] => KNOWN_DIFFERENCES.filter((d) => d.spec === spec);
