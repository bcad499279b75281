/** The v1 parse routes: upload, job status and details, results by kind. */
import { invalidRequest, TollgateError } from '../../../errors.js';
import type { MockCall, ProviderReply } from '../../types.js';
import type { MockContext } from './context.js';
import { createJob } from './create-job.js';
import { baseName, extractUpload, readUpload, textField } from './intake.js';
import { v1DetailsBody, v1JobBody, v1JsonBody, v1MarkdownBody, v1Status, v1TextBody } from './jobs.js';
import { jobOr404 } from './lookup.js';
import { errorReply, json } from './replies.js';
import { type PageSelection, parsePageList } from './selection.js';
import { type FormFields, field, tierFromV1Fields } from './tiers.js';

export type ResultKind = 'markdown' | 'text' | 'json';

/** `max_pages` and `target_pages` (0-based) of a v1 upload; undefined for an unreadable page list. */
function v1Selection(fields: FormFields, targetPages: string | undefined): PageSelection | undefined {
  const maxPages = Number(field(fields, 'max_pages'));
  const selection: PageSelection = Number.isInteger(maxPages) && maxPages > 0 ? { maxPages } : {};
  if (targetPages === undefined || targetPages.trim() === '') return selection;
  const parsed = parsePageList(targetPages, 0);
  return parsed ? { ...selection, targetPages: parsed } : undefined;
}

/** Without a file, v1 would fetch `input_url` / `input_s3_path`: the mock cannot, and says so. */
function missingFileReply(fields: FormFields): ProviderReply {
  if (field(fields, 'input_url') || field(fields, 'input_s3_path')) {
    return errorReply(
      invalidRequest('The tollgate mock cannot fetch input_url or input_s3_path; upload the file instead', 'input_url'),
    );
  }
  return errorReply(invalidRequest('Either file or input_url must be provided', 'file'));
}

/** `POST /api/parsing/upload`. */
export async function uploadV1(ctx: MockContext, call: MockCall): Promise<ProviderReply> {
  const form = await readUpload(ctx, call);
  if (!form.file) return missingFileReply(form.fields);
  const pages = await extractUpload(form.file);
  const targetPages = field(form.fields, 'target_pages');
  const selection = v1Selection(form.fields, targetPages);
  if (selection === undefined)
    return errorReply(invalidRequest(`Invalid target_pages: ${targetPages}`, 'target_pages'));
  const job = createJob(ctx, {
    api: 'v1',
    tier: tierFromV1Fields(form.fields),
    version: field(form.fields, 'version') ?? 'latest',
    fileName: baseName(form.file.filename),
    projectId: call.query.get('project_id'),
    pages,
    selection,
    pageSeparator: textField(form.fields, 'page_separator'),
    pagePrefix: textField(form.fields, 'page_prefix'),
    pageSuffix: textField(form.fields, 'page_suffix'),
  });
  return json(200, v1JobBody(job, ctx.now()));
}

/** `GET /api/parsing/job/{id}`. */
export function getJobV1(ctx: MockContext, call: MockCall): ProviderReply {
  const job = jobOr404(ctx, call);
  return 'id' in job ? json(200, v1JobBody(job, ctx.now())) : job;
}

/** `GET /api/parsing/job/{id}/details`. */
export function jobDetailsV1(ctx: MockContext, call: MockCall): ProviderReply {
  const job = jobOr404(ctx, call);
  return 'id' in job ? json(200, v1DetailsBody(job, ctx.now())) : job;
}

/** `GET /api/parsing/job/{id}/result/{markdown|text|json}`: 404 while pending, 400 for a failed job. */
export function resultV1(ctx: MockContext, call: MockCall, kind: ResultKind): ProviderReply {
  const job = jobOr404(ctx, call);
  if (!('id' in job)) return job;
  const status = v1Status(job, ctx.now());
  if (status === 'PENDING') return errorReply(new TollgateError(404, 'not_found', 'Job not completed yet'));
  if (status === 'ERROR') {
    return errorReply(invalidRequest(`Job failed: ${job.failure?.code}: ${job.failure?.message}`));
  }
  if (kind === 'markdown') return json(200, v1MarkdownBody(job));
  if (kind === 'text') return json(200, v1TextBody(job));
  return json(200, v1JsonBody(job));
}

/** Result kinds the mock does not produce (images, xlsx…): 404 for a known job. */
export function otherResultV1(ctx: MockContext, call: MockCall): ProviderReply {
  const job = jobOr404(ctx, call);
  if (!('id' in job)) return job;
  return errorReply(
    new TollgateError(404, 'not_found', `Result type ${call.params.kind ?? ''} is not available for this job`),
  );
}
