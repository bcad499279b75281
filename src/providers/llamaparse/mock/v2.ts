/** The v2 parse routes: upload with a configuration, create from a file id, get with `expand`. */
import { invalidRequest, TollgateError } from '../../../errors.js';
import type { MockCall, ProviderReply } from '../../types.js';
import type { MockContext } from './context.js';
import { createJob } from './create-job.js';
import { baseName, extractUpload, readUpload } from './intake.js';
import { V2_EXPAND_VALUES, v2GetBody, v2JobObject } from './jobs.js';
import { jobOr404 } from './lookup.js';
import { errorReply, json, validationError } from './replies.js';
import { type PageSelection, parsePageList } from './selection.js';
import { field, isParseTier, type ParseTier } from './tiers.js';

interface V2Config {
  tier: ParseTier;
  version: string;
  selection: PageSelection;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `page_ranges`: `max_pages`, and `target_pages` counted from 1. */
function v2Selection(config: Record<string, unknown>, location: string[]): PageSelection | ProviderReply {
  const ranges = isRecord(config.page_ranges) ? config.page_ranges : {};
  const selection: PageSelection = {};
  if (typeof ranges.max_pages === 'number' && ranges.max_pages > 0) selection.maxPages = ranges.max_pages;
  if (typeof ranges.target_pages === 'string' && ranges.target_pages.trim() !== '') {
    const parsed = parsePageList(ranges.target_pages, 1);
    if (!parsed)
      return validationError([...location, 'page_ranges', 'target_pages'], 'Invalid page list', 'value_error');
    selection.targetPages = parsed;
  }
  return selection;
}

/** v2 `configuration`: tier and version are required, as LlamaCloud requires them. */
function v2Config(config: Record<string, unknown>, location: string[]): ProviderReply | V2Config {
  const tier = config.tier;
  if (tier === undefined) return validationError([...location, 'tier'], 'Field required');
  if (!isParseTier(tier)) {
    return validationError(
      [...location, 'tier'],
      "Input should be 'fast', 'cost_effective', 'agentic' or 'agentic_plus'",
      'enum',
    );
  }
  if (typeof config.version !== 'string' || config.version === '') {
    return validationError([...location, 'version'], 'Field required');
  }
  const selection = v2Selection(config, location);
  if ('status' in selection) return selection;
  return { tier, version: config.version, selection };
}

/** The upload's `configuration` field: JSON of an object, `{}` when absent. */
function parseConfiguration(raw: string | undefined): { config: Record<string, unknown> } | ProviderReply {
  let config: unknown = {};
  if (raw !== undefined) {
    try {
      config = JSON.parse(raw);
    } catch {
      return validationError(['body', 'configuration'], 'Invalid JSON', 'json_invalid');
    }
  }
  if (!isRecord(config)) return validationError(['body', 'configuration'], 'Input should be an object', 'dict_type');
  // Wrapped: a configuration may hold any key, `status` included, so it is told from a reply by `config`.
  return { config };
}

/** `POST /api/v2/parse/upload`. */
export async function uploadV2(ctx: MockContext, call: MockCall): Promise<ProviderReply> {
  const form = await readUpload(ctx, call);
  const configuration = parseConfiguration(field(form.fields, 'configuration'));
  if (!('config' in configuration)) return configuration;
  if (!form.file) return validationError(['body', 'file'], 'Field required');
  const parsed = v2Config(configuration.config, ['body', 'configuration']);
  if ('status' in parsed) return parsed;
  const pages = await extractUpload(form.file);
  const job = createJob(ctx, {
    api: 'v2',
    ...parsed,
    fileName: baseName(form.file.filename),
    projectId: call.query.get('project_id'),
    pages,
  });
  return json(200, v2JobObject(job, ctx.now()));
}

/** `POST /api/v2/parse`: parses a file uploaded before (`file_id`); `source_url` cannot be fetched. */
export function createV2(ctx: MockContext, call: MockCall): ProviderReply {
  const body = call.json;
  if (!isRecord(body)) return validationError(['body'], 'Input should be a valid dictionary', 'dict_type');
  if (typeof body.source_url === 'string' && body.file_id === undefined) {
    return errorReply(
      invalidRequest('The tollgate mock cannot fetch source_url; upload the file instead', 'source_url'),
    );
  }
  if (typeof body.file_id !== 'string') return validationError(['body', 'file_id'], 'Field required');
  const parsed = v2Config(body, ['body']);
  if ('status' in parsed) return parsed;
  const file = ctx.files.get(body.file_id);
  if (!file) return errorReply(new TollgateError(404, 'not_found', `File ${body.file_id} not found`));
  const job = createJob(ctx, {
    api: 'v2',
    ...parsed,
    fileName: file.name,
    projectId: call.query.get('project_id'),
    pages: file.pages,
  });
  return json(200, v2JobObject(job, ctx.now()));
}

function expandSet(query: URLSearchParams): Set<string> {
  const values = query.getAll('expand').flatMap((value) => value.split(','));
  return new Set(values.map((value) => value.trim()).filter((value) => value !== ''));
}

/** `GET /api/v2/parse/{id}`: the job, and the content its `expand` values ask for. */
export function getV2(ctx: MockContext, call: MockCall): ProviderReply {
  const job = jobOr404(ctx, call);
  if (!('id' in job)) return job;
  const expand = expandSet(call.query);
  const unknown = [...expand].find((value) => !(V2_EXPAND_VALUES as readonly string[]).includes(value));
  if (unknown) {
    return validationError(['query', 'expand'], `Unknown expand value: ${unknown}`, 'value_error');
  }
  return json(200, v2GetBody(job, ctx.now(), expand));
}
