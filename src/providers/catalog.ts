/**
 * What configuration knows about each provider, one entry per provider. Adding a provider adds
 * one entry here; the variables, the budget scopes and the cross-field rules derive from it.
 *
 * Pure data on purpose (it imports nothing): config, health and the adapters can all read it
 * without pulling each other in.
 */

export interface ProviderFacts {
  readonly name: string;
  /** Starts the provider's own variables: `${envPrefix}_REQUESTS_PER_HOUR`, `${envPrefix}_BUDGET_DAILY_USD`, … */
  readonly envPrefix: string;
  /** Overrides SERVICE_MODE for this provider. */
  readonly modeVar: string;
  /** Holds the sidecar's key; named in errors and warnings, its value never shown. */
  readonly keyVar: string;
  readonly urlVar: string;
  readonly defaultUrl: string;
  /** Hourly limits it can be given: each `${envPrefix}_${KIND}_PER_HOUR` and `…_BURST`. */
  readonly limitKinds: readonly string[];
  /** What follows `provider:` in a budget scope of CONFIG_FILE (a model, a tier). */
  readonly budgetSubScope: string;
  /** How a call is priced: by tokens (per 1M, by model) or by pages (credits, by tier). */
  readonly priceKind: 'tokens' | 'pages';
  /** The background health probe: a free endpoint under the upstream base URL (a probe is never billed). */
  readonly probe: {
    readonly path: string;
    /** What a key of this provider starts with (a key that does not is warned about at start). */
    readonly keyPrefix: string;
    readonly label: string;
    /** "an OpenAI key": the key named in a warning. */
    readonly keyNoun: string;
    /** Headers the probe must send besides the key (Anthropic's `anthropic-version`). */
    readonly headers?: Readonly<Record<string, string>>;
  };
}

export const CATALOG = [
  {
    name: 'openai',
    envPrefix: 'OPENAI',
    modeVar: 'OPENAI_MODE',
    keyVar: 'OPENAI_API_KEY',
    urlVar: 'OPENAI_UPSTREAM_URL',
    defaultUrl: 'https://api.openai.com/v1',
    limitKinds: ['requests', 'tokens'],
    budgetSubScope: 'model',
    priceKind: 'tokens',
    // GET /v1/models lists models, costs nothing, needs a valid key.
    probe: { path: '/models', keyPrefix: 'sk-', label: 'OpenAI', keyNoun: 'an OpenAI key' },
  },
  {
    name: 'llamaparse',
    envPrefix: 'LLAMAPARSE',
    modeVar: 'LLAMAPARSE_MODE',
    keyVar: 'LLAMA_CLOUD_API_KEY',
    urlVar: 'LLAMAPARSE_UPSTREAM_URL',
    defaultUrl: 'https://api.cloud.llamaindex.ai',
    limitKinds: ['requests', 'pages'],
    budgetSubScope: 'tier',
    priceKind: 'pages',
    // GET /api/v1/projects (llama-cloud-services openapi.json `list_projects_api_v1_projects_get`,
    // HTTPBearer) lists the key's projects, costs no credits, needs a valid key.
    probe: { path: '/api/v1/projects', keyPrefix: 'llx-', label: 'LlamaCloud', keyNoun: 'a LlamaCloud key' },
  },
  {
    name: 'anthropic',
    envPrefix: 'ANTHROPIC',
    modeVar: 'ANTHROPIC_MODE',
    keyVar: 'ANTHROPIC_API_KEY',
    urlVar: 'ANTHROPIC_UPSTREAM_URL',
    defaultUrl: 'https://api.anthropic.com',
    limitKinds: ['requests', 'tokens'],
    budgetSubScope: 'model',
    priceKind: 'tokens',
    // GET /v1/models lists models, costs nothing, needs a valid key (and, like every call, a version).
    probe: {
      path: '/v1/models',
      keyPrefix: 'sk-ant-',
      label: 'Anthropic',
      keyNoun: 'an Anthropic key',
      headers: { 'anthropic-version': '2023-06-01' },
    },
  },
] as const satisfies readonly ProviderFacts[];

type Entry = (typeof CATALOG)[number];
export type Provider = Entry['name'];

/** Every provider, in catalog order. */
export const PROVIDERS: readonly Provider[] = CATALOG.map((entry) => entry.name);

/** The providers priced by tokens (per 1M, by model), each with its own section of the price table. */
export type TokenPricedProvider = Extract<Entry, { priceKind: 'tokens' }>['name'];
export const TOKEN_PRICED: readonly TokenPricedProvider[] = CATALOG.flatMap((entry) =>
  entry.priceKind === 'tokens' ? [entry.name] : [],
);

/** The limit kinds of one provider: `'requests' | 'tokens'` for openai. */
export type ProviderLimitKind<P extends Provider> = Extract<Entry, { name: P }>['limitKinds'][number];
