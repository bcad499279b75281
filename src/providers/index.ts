import type { ProviderAdapter } from './adapter.js';
import { llamaparse } from './llamaparse/index.js';
import { openai } from './openai/index.js';

export type { ProviderAdapter, RouteSpec, Usage } from './adapter.js';

/** Every provider the sidecar fronts. Adding one: a folder under providers/ and a line here. */
export const providers: readonly ProviderAdapter[] = [openai, llamaparse];
