/**
 * LlamaCloud parse routes the sidecar knows, as data. Patterns are relative to the provider
 * prefix (`/llamaparse`), Hono-style params, most specific first.
 *
 * What the official TypeScript client (`llama-cloud-services` 0.5.4, LlamaParseReader) calls:
 * - `POST /api/v1/parsing/upload` multipart: `file` (filename = the path given to loadData),
 *   every option as its own text field (booleans/numbers JSON-serialised, `language` repeated);
 *   query `project_id`/`organization_id` only when set. Answer: `{ id, status }`.
 * - `GET /api/v1/parsing/job/{id}` polled every `checkInterval` s (linear backoff up to
 *   `maxCheckInterval`) until `status` is not PENDING; SUCCESS → result, anything else → error.
 * - `GET /api/v1/parsing/job/{id}/result/{markdown|text|json}`: reads `markdown` / `text`
 *   (split on `pageSeparator ?? "\n---\n"`) or `pages` + `job_metadata`.
 * The unversioned `/api/parsing/...` form is what older clients and the Python SDK use.
 * v2 (`/api/v2/parse`) is LlamaCloud's current API: `file` + `configuration` (JSON with `tier`,
 * `version`) to upload, or JSON `{ file_id, tier, version }` after `POST /api/v1/beta/files`.
 */

import type { RouteSpec } from '../adapter.js';

export type { RouteSpec };

const V1_PREFIXES = ['/api/v1/parsing', '/api/parsing'] as const;

function v1Routes(prefix: string): RouteSpec[] {
  return [
    { operation: 'parse.upload', method: 'POST', pattern: `${prefix}/upload`, body: 'stream', metered: true },
    {
      operation: 'parse.result.markdown',
      method: 'GET',
      pattern: `${prefix}/job/:id/result/markdown`,
      body: 'none',
      metered: true,
    },
    {
      operation: 'parse.result.text',
      method: 'GET',
      pattern: `${prefix}/job/:id/result/text`,
      body: 'none',
      metered: true,
    },
    {
      operation: 'parse.result.json',
      method: 'GET',
      pattern: `${prefix}/job/:id/result/json`,
      body: 'none',
      metered: true,
    },
    // structured, xlsx, pdf, image/…: known to LlamaCloud, not produced by the mock (404 there).
    {
      operation: 'parse.result.other',
      method: 'GET',
      pattern: `${prefix}/job/:id/result/:kind`,
      body: 'none',
      metered: false,
    },
    { operation: 'parse.details', method: 'GET', pattern: `${prefix}/job/:id/details`, body: 'none', metered: false },
    { operation: 'parse.job', method: 'GET', pattern: `${prefix}/job/:id`, body: 'none', metered: true },
  ];
}

export const llamaparseRoutes: RouteSpec[] = [
  ...V1_PREFIXES.flatMap(v1Routes),
  { operation: 'parse.v2.upload', method: 'POST', pattern: '/api/v2/parse/upload', body: 'stream', metered: true },
  { operation: 'parse.v2.create', method: 'POST', pattern: '/api/v2/parse', body: 'json', metered: true },
  { operation: 'parse.v2.get', method: 'GET', pattern: '/api/v2/parse/:id', body: 'none', metered: true },
  // The v2 way to get a file_id for parse.v2.create; not metered (storing a file costs nothing).
  { operation: 'files.upload', method: 'POST', pattern: '/api/v1/beta/files', body: 'stream', metered: false },
];

/**
 * Matches a method and path (relative to the provider prefix) against the table.
 * Exported for tests and simple servers; the app may use Hono's router over the same data.
 */
export function matchLlamaparseRoute(
  method: string,
  path: string,
): { route: RouteSpec; params: Record<string, string> } | undefined {
  const segments = path.replace(/\/+$/, '').split('/');
  for (const route of llamaparseRoutes) {
    if (route.method !== method.toUpperCase()) continue;
    const parts = route.pattern.split('/');
    if (parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matched = parts.every((part, i) => {
      const segment = segments[i] ?? '';
      if (part.startsWith(':')) {
        if (segment === '') return false;
        try {
          params[part.slice(1)] = decodeURIComponent(segment);
          return true;
        } catch {
          return false; // a malformed %-escape matches no route
        }
      }
      return part === segment;
    });
    if (matched) return { route, params };
  }
  return undefined;
}
