import { isObject } from '../../json.js';
import type { ProviderAdapter, Usage } from '../adapter.js';
import { emptyUsage } from '../adapter.js';
import { heldPages, PREMIUM_TIER, uploadWorstCase, v2Selection, v2Tier } from './hold.js';
import { createLlamaParseMock, type LlamaParseMock } from './mock/index.js';
import { llamaparseRoutes } from './routes.js';
import { uploadKey } from './upload-key.js';

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
  uploads: true,
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
  worstCase(operation, json, _reserve, defaultPages = 1) {
    // Uploads are held by worstCaseOfUpload (their pages counted); a v2 parse of a stored file holds
    // the default pages, capped by its page_ranges.
    if (operation !== 'parse.upload' && operation !== 'parse.v2.upload' && operation !== 'parse.v2.create')
      return undefined;
    const conf = isObject(json) ? (isObject(json.configuration) ? json.configuration : json) : {};
    return {
      inputTokens: 0,
      outputTokens: 0,
      pages: heldPages(undefined, v2Selection(conf), defaultPages),
      model: v2Tier(conf),
    };
  },
  worstCaseOfUpload: (operation, upload, defaultPages) =>
    operation === 'parse.upload' || operation === 'parse.v2.upload'
      ? uploadWorstCase(operation, upload, defaultPages)
      : Promise.resolve(undefined),
  jobResultPath: (operation, id) =>
    operation.startsWith('parse.v2')
      ? `/api/v2/parse/${encodeURIComponent(id)}?expand=job_metadata`
      : `/api/v1/parsing/job/${encodeURIComponent(id)}/result/json`,
  bookingId: (operation, params) =>
    params.id !== undefined &&
    (operation.startsWith('parse.result') || operation === 'parse.job' || operation === 'parse.v2.get')
      ? `llamaparse:job:${params.id}`
      : undefined,
  uploadKey: (operation, upload) =>
    operation === 'parse.upload' || operation === 'parse.v2.upload' ? uploadKey(upload) : Promise.resolve(undefined),
  jobOf: (operation, params) =>
    params.id !== undefined &&
    (operation.startsWith('parse.result') ||
      operation === 'parse.job' ||
      operation === 'parse.details' ||
      operation === 'parse.v2.get')
      ? params.id
      : undefined,
  usageFromJson(operation, body): Usage | undefined {
    if (!isObject(body)) return undefined;
    if (operation === 'parse.upload' || operation === 'parse.v2.upload' || operation === 'parse.v2.create') {
      // The upload's answer names the job its hold now belongs to.
      return typeof body.id === 'string' && body.id !== '' ? { ...emptyUsage(), jobId: body.id } : undefined;
    }
    const meta = isObject(body.job_metadata) ? body.job_metadata : undefined;
    const job = isObject(body.job) ? body.job : undefined;
    // v2 without job_metadata: the expanded pages still tell how many were parsed.
    const expanded = [body.markdown, body.text].find((x) => isObject(x) && Array.isArray(x.pages)) as
      | { pages: unknown[] }
      | undefined;
    // v2 `expand=usage`: the credits billed, once billing recorded them (null before).
    const v2Usage = isObject(job?.usage) ? job.usage : undefined;
    const v2Credits = count(v2Usage?.credits);
    if (meta === undefined && v2Credits === undefined && (expanded === undefined || job?.status !== 'COMPLETED'))
      return undefined;
    const usage = emptyUsage();
    usage.reported = true;
    usage.pages = count(meta?.job_pages) ?? expanded?.pages.length ?? 0;
    usage.credits = count(meta?.credits_used) ?? count(meta?.job_credits_usage) ?? v2Credits;
    const premium = count(meta?.job_auto_mode_triggered_pages);
    if (premium !== undefined && premium > 0) usage.premiumPages = premium;
    if (typeof job?.tier === 'string') usage.tier = job.tier;
    return usage;
  },
};

export { PREMIUM_TIER };
