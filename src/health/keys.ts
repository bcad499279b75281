import { type Config, PROVIDERS } from '../config/index.js';
import { PROBES } from './specs.js';

/**
 * Warnings about keys that cannot be right: OpenAI keys start with `sk-`, LlamaCloud keys with
 * `llx-`. Each names the variable and what was expected, never the value.
 *
 * @example
 * for (const w of keyFormWarnings(config)) log.warn({}, w);
 */
export function keyFormWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const provider of PROVIDERS) {
    const key = config.providers[provider].apiKey;
    if (key === undefined) continue;
    const spec = PROBES[provider];
    if (/^\s|\s$|^["']|["']$/.test(key)) {
      warnings.push(`${spec.keyVar} has surrounding whitespace or quotes; the provider will reject it as sent`);
    } else if (!key.startsWith(spec.keyPrefix)) {
      warnings.push(`${spec.keyVar} does not look like ${spec.keyNoun}: expected it to start with "${spec.keyPrefix}"`);
    }
  }
  return warnings;
}
