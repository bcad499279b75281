import { CATALOG, type Provider } from '../providers/catalog.js';

/** What to probe for one provider, and how to name its key in outputs and warnings. */
export interface ProbeSpec {
  /** Path under the provider's upstream base URL. */
  path: string;
  /** The variable holding the key, named in outputs and warnings (never the value). */
  keyVar: string;
  urlVar: string;
  keyPrefix: string;
  label: string;
  /** "an OpenAI key": the key named in a warning. */
  keyNoun: string;
}

/**
 * Free endpoints only; a probe must never be billed.
 * - OpenAI `GET /v1/models`: lists models, costs nothing, needs a valid key.
 * - LlamaCloud `GET /api/v1/projects` (openapi.json of llama-cloud-services:
 *   `list_projects_api_v1_projects_get`, security HTTPBearer): lists the key's projects,
 *   costs no credits, needs a valid key.
 */
const PROBE_TARGETS: Record<Provider, Omit<ProbeSpec, 'keyVar' | 'urlVar'>> = {
  openai: { path: '/models', keyPrefix: 'sk-', label: 'OpenAI', keyNoun: 'an OpenAI key' },
  llamaparse: { path: '/api/v1/projects', keyPrefix: 'llx-', label: 'LlamaCloud', keyNoun: 'a LlamaCloud key' },
};

/** Each provider's probe, its variable names taken from the provider catalog. */
export const PROBES: Record<Provider, ProbeSpec> = Object.fromEntries(
  CATALOG.map(({ name, keyVar, urlVar }) => [name, { ...PROBE_TARGETS[name], keyVar, urlVar }]),
) as Record<Provider, ProbeSpec>;
