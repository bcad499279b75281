/**
 * The models the mock lists (`GET /v1/models`, newest first, paged by `limit`, `after_id` and
 * `before_id`) and describes one by one (`GET /v1/models/{id}`); an unknown id is a 404.
 */
import type { MockCall, ProviderReply } from '../../types.js';
import { errorReply, jsonReply } from './reply.js';

export interface MockModel {
  id: string;
  display_name: string;
  created_at: string;
  max_input_tokens: number;
  max_tokens: number;
}

export const MOCK_MODELS: readonly MockModel[] = [
  {
    id: 'claude-opus-5-5',
    display_name: 'Claude Opus 5.5',
    created_at: '2026-11-24T00:00:00Z',
    max_input_tokens: 1_000_000,
    max_tokens: 128_000,
  },
  {
    id: 'claude-haiku-5-5',
    display_name: 'Claude Haiku 5.5',
    created_at: '2026-10-07T00:00:00Z',
    max_input_tokens: 1_000_000,
    max_tokens: 128_000,
  },
  {
    id: 'claude-sonnet-5-5',
    display_name: 'Claude Sonnet 5.5',
    created_at: '2026-09-23T00:00:00Z',
    max_input_tokens: 1_000_000,
    max_tokens: 128_000,
  },
  {
    id: 'claude-fable-5-1',
    display_name: 'Claude Fable 5.1',
    created_at: '2026-09-10T00:00:00Z',
    max_input_tokens: 1_000_000,
    max_tokens: 128_000,
  },
  {
    id: 'claude-sonnet-5',
    display_name: 'Claude Sonnet 5',
    created_at: '2026-06-30T00:00:00Z',
    max_input_tokens: 1_000_000,
    max_tokens: 128_000,
  },
  {
    id: 'claude-opus-4-6',
    display_name: 'Claude Opus 4.6',
    created_at: '2026-02-05T00:00:00Z',
    max_input_tokens: 1_000_000,
    max_tokens: 128_000,
  },
  {
    id: 'claude-sonnet-4-6',
    display_name: 'Claude Sonnet 4.6',
    created_at: '2026-02-17T00:00:00Z',
    max_input_tokens: 1_000_000,
    max_tokens: 64_000,
  },
  {
    id: 'claude-haiku-4-5-20251001',
    display_name: 'Claude Haiku 4.5',
    created_at: '2025-10-01T00:00:00Z',
    max_input_tokens: 200_000,
    max_tokens: 64_000,
  },
];

/** The SDK's `ModelInfo` for one model. */
export const modelInfo = (m: MockModel) => ({
  type: 'model' as const,
  id: m.id,
  display_name: m.display_name,
  created_at: m.created_at,
  capabilities: null,
  deprecated_at: null,
  retires_at: null,
  lifecycle: 'active' as const,
  line: null,
  max_input_tokens: m.max_input_tokens,
  max_tokens: m.max_tokens,
});

const DEFAULT_LIMIT = 20;

export function listModels(call: MockCall): ProviderReply {
  const limitParam = Number(call.query.get('limit') ?? DEFAULT_LIMIT);
  if (!Number.isInteger(limitParam) || limitParam < 1 || limitParam > 1000)
    return errorReply(400, 'invalid_request_error', 'limit: Input should be between 1 and 1000');
  const after = call.query.get('after_id');
  const before = call.query.get('before_id');
  let models = [...MOCK_MODELS];
  if (after !== null) models = models.slice(models.findIndex((m) => m.id === after) + 1);
  if (before !== null) {
    const at = models.findIndex((m) => m.id === before);
    models = models.slice(Math.max(0, at - limitParam), Math.max(0, at));
  }
  const page = models.slice(0, limitParam);
  return jsonReply(200, {
    data: page.map(modelInfo),
    has_more: before === null ? models.length > page.length : MOCK_MODELS.indexOf(page[0] as MockModel) > 0,
    first_id: page[0]?.id ?? null,
    last_id: page.at(-1)?.id ?? null,
  });
}

export function retrieveModel(call: MockCall): ProviderReply {
  const id = call.params.model ?? '';
  const model = MOCK_MODELS.find((m) => m.id === id);
  if (model === undefined) return errorReply(404, 'not_found_error', `model: ${id}`);
  return jsonReply(200, modelInfo(model));
}
