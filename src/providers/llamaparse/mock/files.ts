/** `POST /api/v2/files`: a file stored on its own, parsed later by `POST /api/v2/parse` with its id. */
import { randomUUID } from 'node:crypto';
import type { MockCall, ProviderReply } from '../../types.js';
import type { MockContext, StoredFile } from './context.js';
import { MOCK_PROJECT_ID } from './create-job.js';
import { baseName, extractUpload, readUpload } from './intake.js';
import { json, validationError } from './replies.js';
import { field } from './tiers.js';

export async function uploadFile(ctx: MockContext, call: MockCall): Promise<ProviderReply> {
  const form = await readUpload(ctx, call);
  if (!form.file) return validationError(['body', 'file'], 'Field required');
  const pages = await extractUpload(form.file);
  const createdAt = ctx.now();
  const stored: StoredFile = { id: randomUUID(), createdAt, name: baseName(form.file.filename), pages };
  ctx.files.set(stored.id, stored);
  return json(200, {
    id: stored.id,
    name: stored.name,
    project_id: call.query.get('project_id') ?? MOCK_PROJECT_ID,
    purpose: field(form.fields, 'purpose') ?? null,
    external_file_id: field(form.fields, 'external_file_id') ?? null,
    file_type: form.file.mimeType,
    expires_at: new Date(createdAt + ctx.ttlMs).toISOString(),
  });
}
