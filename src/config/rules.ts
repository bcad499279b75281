import { CATALOG, type Provider } from '../providers/catalog.js';
import { type Mode, strictUpstream } from './fields.js';

/** Enough of the config to tell whether a provider can be called for real. */
export interface KeyFacts {
  providers: Record<Provider, { apiKey: string | undefined }>;
  forwardClientAuth: boolean;
}

/** Nothing to authenticate upstream with: no sidecar key, and the workers' own keys are not forwarded. */
export function noUpstreamKey(config: KeyFacts, provider: Provider): boolean {
  return config.providers[provider].apiKey === undefined && !config.forwardClientAuth;
}

/**
 * Real (and record) mode needs a key: true when `provider` in `mode` would have to call upstream without
 * one. Hybrid mode does not (the mock answers instead), nor do mock and replay.
 *
 * @example
 * if (needsKey(config, 'openai', 'real')) throw invalidRequest('openai has no API key configured; …');
 */
export function needsKey(config: KeyFacts, provider: Provider, mode: Mode | string): boolean {
  return strictUpstream(mode as Mode) && noUpstreamKey(config, provider);
}

/** A rule broken: the variable to fix and what is expected of it. */
export interface FieldIssue {
  variable: string;
  message: string;
}

/**
 * Rules that span several variables. They read the raw values, so they are reported together
 * with any single-variable errors instead of waiting for those to be fixed first.
 */
export function crossFieldIssues(raw: Record<string, string | undefined>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const val = (k: string) => (raw[k]?.trim() ? raw[k]!.trim() : undefined);
  const facts: KeyFacts = {
    providers: Object.fromEntries(CATALOG.map((p) => [p.name, { apiKey: val(p.keyVar) }])) as KeyFacts['providers'],
    forwardClientAuth: ['true', '1', 'yes'].includes(val('FORWARD_CLIENT_AUTH')?.toLowerCase() ?? ''),
  };
  const serviceMode = val('SERVICE_MODE')?.toLowerCase() ?? 'mock';
  for (const { name, modeVar, keyVar } of CATALOG) {
    const own = val(modeVar)?.toLowerCase();
    const effective = own ?? serviceMode;
    if (needsKey(facts, name, effective)) {
      // A mode inherited from SERVICE_MODE may be meant for the other providers only: name the way out.
      const remedy = own === undefined ? `; if the workers do not call ${name}, set ${modeVar}=mock (or hybrid)` : '';
      issues.push({
        variable: keyVar,
        message: `is required when ${name} runs in ${effective} mode (${own === undefined ? 'SERVICE_MODE' : modeVar}=${effective})${remedy}`,
      });
    }
  }
  const interval = Number(val('HEALTH_CHECK_INTERVAL_MS') ?? 30000);
  const timeout = Number(val('HEALTH_CHECK_TIMEOUT_MS') ?? 5000);
  if (Number.isFinite(interval) && Number.isFinite(timeout) && timeout > interval) {
    issues.push({ variable: 'HEALTH_CHECK_TIMEOUT_MS', message: 'must not exceed HEALTH_CHECK_INTERVAL_MS' });
  }
  return issues;
}
