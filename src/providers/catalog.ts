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
  },
] as const satisfies readonly ProviderFacts[];

type Entry = (typeof CATALOG)[number];
export type Provider = Entry['name'];

/** Every provider, in catalog order. */
export const PROVIDERS: readonly Provider[] = CATALOG.map((entry) => entry.name);

/** The limit kinds of one provider: `'requests' | 'tokens'` for openai. */
export type ProviderLimitKind<P extends Provider> = Extract<Entry, { name: P }>['limitKinds'][number];
