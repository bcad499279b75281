import type { ProviderAdapter, Usage } from '../adapter.js';
import { emptyUsage } from '../adapter.js';
import { createLlamaParseMock, type LlamaParseMock } from './mock/index.js';
import { llamaparseRoutes } from './routes.js';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;

/**
 * LlamaParse (LlamaCloud): v1 and v2 parse jobs are known routes; every other `/llamaparse/api/*`
 * path passes through to the configured upstream.
 */
export const llamaparse: ProviderAdapter = {
  name: 'llamaparse',
  prefix: '/llamaparse',
  errorShape: 'llamaparse',
  passthrough: '/api/*',
  routes: llamaparseRoutes,
  mockPath: (rest) => rest,
  authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  createMock: (settings, options) =>
    createLlamaParseMock(settings, options.now, { maxUploadBytes: options.maxUploadBytes }),
  genAiOperation: (operation) => (operation.startsWith('parse') ? 'parse' : operation),
  requestModel(_operation, json) {
    if (!isObject(json)) return undefined;
    const conf = isObject(json.configuration) ? json.configuration : json;
    return typeof conf.tier === 'string' ? conf.tier : undefined;
  },
  mockOwns(mock, _operation, params) {
    return params.id !== undefined && (mock as LlamaParseMock).describeJob?.(params.id) !== undefined;
  },
  usageFromJson(_operation, body): Usage | undefined {
    if (!isObject(body)) return undefined;
    const meta = isObject(body.job_metadata) ? body.job_metadata : undefined;
    if (meta === undefined) return undefined;
    const usage = emptyUsage();
    usage.pages = count(meta.job_pages) ?? 0;
    usage.credits = count(meta.credits_used) ?? count(meta.job_credits_usage);
    return usage;
  },
};
