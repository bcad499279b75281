/**
 * Shapes the LlamaCloud document leaves untyped, and what stands in for them: each with the
 * reason and the evidence. These narrow (never widen) what the suite accepts; the document's own
 * schemas are applied first, these on top.
 */

type Json = Record<string, unknown>;

export interface ReferenceShape {
  id: string;
  /** What the document says about it. */
  reason: string;
  /** Where the shape is taken from. */
  evidence: string;
  schema: Json;
}

/** `job_metadata` of every v1 result (and of v2 `expand=job_metadata`). */
export const JOB_METADATA: ReferenceShape = {
  id: 'llamacloud.job_metadata',
  reason:
    'ParsingJob{Markdown,Text,Json}Result.job_metadata is required but untyped ("Parsing job metadata, including usage").',
  evidence:
    "LlamaCloud's docs (LlamaParse › Features › Metadata) give `job_metadata: {job_pages: int, job_is_cache_hit: " +
    "boolean}`; llama-cloud-services' generated API client notes that `credits_used` and `job_credits_usage` in it " +
    'are deprecated (numbers). tollgate meters from `job_pages` and the credits.',
  schema: {
    type: 'object',
    properties: {
      job_pages: { type: 'integer', minimum: 0 },
      job_is_cache_hit: { type: 'boolean' },
      credits_used: { type: 'number', minimum: 0 },
      job_credits_usage: { type: 'number', minimum: 0 },
      job_auto_mode_triggered_pages: { type: 'integer', minimum: 0 },
    },
    required: ['job_pages', 'job_is_cache_hit'],
  },
};

/** A page of the v1 JSON result (`ParsingJobJsonResult.pages[]`). */
export const JSON_PAGE: ReferenceShape = {
  id: 'llamacloud.json_result_page',
  reason: 'ParsingJobJsonResult.pages is required but untyped ("The json result of the parsing job").',
  evidence:
    "LlamaCloud's docs (LlamaParse › Features › Metadata, “Page objects”): `page`, `text`, `md`, `images`, `items`; " +
    'LlamaParseReader (llama-cloud-services 0.5.4) reads `pages[].text`/`md` and `images` in JSON mode.',
  schema: {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        page: { type: 'integer', minimum: 1 },
        text: { type: 'string' },
        md: { type: 'string' },
        images: { type: 'array' },
        items: {
          type: 'array',
          items: { type: 'object', properties: { type: { type: 'string' } }, required: ['type'] },
        },
      },
      required: ['page', 'text', 'md', 'images', 'items'],
    },
  },
};

/** LlamaCloud's errors other than 422 (and the sidecar's own, which add a `code`). */
export const HTTP_ERROR: ReferenceShape = {
  id: 'llamacloud.http_error',
  reason: 'The document describes only 422 (HTTPValidationError); 400/404/413/429 bodies are not described.',
  evidence:
    "LlamaCloud is a FastAPI service (HTTPValidationError is FastAPI's): an HTTPException answers " +
    '`{"detail": "<message>"}`, which both official clients read as the error message. The sidecar adds `code` ' +
    '(docs/errors.md).',
  schema: {
    type: 'object',
    properties: { detail: { type: 'string', minLength: 1 }, code: { type: 'string' } },
    required: ['detail'],
  },
};

export const REFERENCE_SHAPES: readonly ReferenceShape[] = [JOB_METADATA, JSON_PAGE, HTTP_ERROR];
