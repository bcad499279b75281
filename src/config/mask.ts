import type { EnvRecord } from './schema.js';
import { SECRET_VARS } from './schema.js';

/** Masks a secret for display: keeps its form (`sk-…`) and length class, never its value. */
export function maskSecret(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const prefix = /^(sk-proj-|sk-|llx-)/.exec(value)?.[0] ?? '';
  return `${prefix}****`;
}

/** `redis://user:secret@host/0` → `redis://user:****@host/0`; URLs without credentials unchanged. */
export function maskUrlCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_m, scheme: string, cred: string) => {
    const user = cred.includes(':') ? cred.slice(0, cred.indexOf(':')) : '';
    return `${scheme}${user}:****@`;
  });
}

/**
 * One variable's value as it may be shown in a log line or a message: secrets masked, a store
 * URL without its password, anything else as read.
 */
export function shownValue(name: string, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (SECRET_VARS.includes(name)) return maskSecret(String(value));
  if (typeof value !== 'string') return value;
  // A key pasted into the wrong variable is still a key.
  if (KEY_FORM.test(value)) return maskSecret(value);
  return maskUrlCredentials(value);
}

/** What a provider key looks like (OpenAI's `sk-…`, LlamaCloud's `llx-…`). */
const KEY_FORM = /^\s*(sk-|llx-)/;

/** The validated variables with secrets masked, for check-config and /admin/config. */
export function maskedEnv(env: EnvRecord): Record<string, unknown> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, shownValue(k, v)]));
}
