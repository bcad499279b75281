import type { ProviderAdapter } from './adapter.js';
import { anthropic } from './anthropic/index.js';
import { llamaparse } from './llamaparse/index.js';
import { openai } from './openai/index.js';

export {
  emptyUsage,
  type MockOptions,
  type PreparedJson,
  type ProviderAdapter,
  type RouteSpec,
  type Sizing,
  type SpooledUpload,
  type UploadKey,
  type Usage,
  type WorstCase,
} from './adapter.js';
export {
  CATALOG,
  PROVIDERS,
  type Provider,
  type ProviderFacts,
  TOKEN_PRICED,
  type TokenPricedProvider,
} from './catalog.js';
export { type SseEvent, SseParser } from './sse.js';
export type { MockCall, MockSettings, ProviderMock, ProviderName, ProviderReply } from './types.js';

/**
 * Every provider the sidecar fronts. Adding one: a folder under providers/ with its adapter, a line
 * here, and its configuration facts in catalog.ts (pure data that config reads without loading adapters).
 */
export const providers: readonly ProviderAdapter[] = [openai, llamaparse, anthropic];
