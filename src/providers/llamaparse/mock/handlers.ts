/** Which handler answers which route operation (the operations are named in ../routes.ts). */
import { notFound } from '../../../errors.js';
import type { MockCall, ProviderReply } from '../../types.js';
import type { MockContext } from './context.js';
import { uploadFile } from './files.js';
import { errorReply } from './replies.js';
import { getJobV1, jobDetailsV1, otherResultV1, resultV1, uploadV1 } from './v1.js';
import { createV2, getV2, uploadV2 } from './v2.js';

type Handler = (ctx: MockContext, call: MockCall) => ProviderReply | Promise<ProviderReply>;

const HANDLERS = new Map<string, Handler>([
  ['parse.upload', uploadV1],
  ['parse.job', getJobV1],
  ['parse.details', jobDetailsV1],
  ['parse.result.markdown', (ctx, call) => resultV1(ctx, call, 'markdown')],
  ['parse.result.text', (ctx, call) => resultV1(ctx, call, 'text')],
  ['parse.result.json', (ctx, call) => resultV1(ctx, call, 'json')],
  ['parse.result.other', otherResultV1],
  ['parse.v2.upload', uploadV2],
  ['parse.v2.create', createV2],
  ['parse.v2.get', getV2],
  ['files.upload', uploadFile],
]);

export async function dispatch(ctx: MockContext, call: MockCall): Promise<ProviderReply> {
  const handler = HANDLERS.get(call.operation);
  return handler ? handler(ctx, call) : errorReply(notFound(call.method, call.path));
}
