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
  /** Headers the probe sends besides the key (Anthropic's `anthropic-version`). */
  headers?: Readonly<Record<string, string>>;
}

/** Each provider's probe (a free endpoint, never billed), from the provider catalog. */
export const PROBES: Record<Provider, ProbeSpec> = Object.fromEntries(
  CATALOG.map(({ name, keyVar, urlVar, probe }) => [name, { ...probe, keyVar, urlVar }]),
) as Record<Provider, ProbeSpec>;
