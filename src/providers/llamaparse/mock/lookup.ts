/** Finding the job a route names. */
import { TollgateError } from '../../../errors.js';
import type { MockCall, ProviderReply } from '../../types.js';
import type { MockContext } from './context.js';
import type { MockJob } from './jobs.js';
import { errorReply } from './replies.js';

/** The job named by the route's `id`, or the 404 LlamaCloud answers for an unknown one. */
export function jobOr404(ctx: MockContext, call: MockCall): MockJob | ProviderReply {
  const id = call.params.id ?? '';
  return ctx.jobs.get(id) ?? errorReply(new TollgateError(404, 'not_found', 'Job not found'));
}
