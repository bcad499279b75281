/** GET /v1/models and GET /v1/models/:model, over a fixed list of current OpenAI models. */
import type { MockCall, ProviderReply } from '../../types.js';
import { jsonReply, type MockContext, openaiErrorBody } from './reply.js';

export interface MockModel {
  id: string;
  object: 'model';
  /** Release time as OpenAI lists it (seconds). */
  created: number;
  owned_by: string;
}

function model(id: string, created: number, ownedBy = 'system'): MockModel {
  return { id, object: 'model', created, owned_by: ownedBy };
}

export const MOCK_MODELS: readonly MockModel[] = [
  model('gpt-4o', 1715367049),
  model('gpt-4o-2024-08-06', 1722814719),
  model('gpt-4o-mini', 1721172741),
  model('gpt-4o-mini-2024-07-18', 1721172717),
  model('gpt-4.1', 1744316542),
  model('gpt-4.1-mini', 1744318173),
  model('gpt-4.1-nano', 1744321707),
  model('gpt-5', 1754425777),
  model('gpt-5-mini', 1754425928),
  model('gpt-5-nano', 1754426384),
  model('o3', 1744225308),
  model('o4-mini', 1744225351),
  model('gpt-3.5-turbo', 1677610602, 'openai'),
  model('text-embedding-3-small', 1705948997),
  model('text-embedding-3-large', 1705953180),
  model('text-embedding-ada-002', 1671217299, 'openai-internal'),
];

export function listModels(_call: MockCall, ctx: MockContext): ProviderReply {
  return jsonReply(200, { object: 'list', data: MOCK_MODELS }, ctx.startedAt, ctx.now);
}

export function retrieveModel(call: MockCall, ctx: MockContext): ProviderReply {
  const id = call.params.model ?? '';
  const found = MOCK_MODELS.find((m) => m.id === id);
  if (found !== undefined) return jsonReply(200, found, ctx.startedAt, ctx.now);
  return jsonReply(
    404,
    openaiErrorBody(`The model '${id}' does not exist`, 'invalid_request_error', 'model', 'model_not_found'),
    ctx.startedAt,
    ctx.now,
  );
}
