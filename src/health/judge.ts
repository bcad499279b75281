import type { ProbeResponse } from './fetch.js';
import type { ProbeSpec } from './specs.js';
import type { CheckStatus } from './types.js';

/** Turns a provider's answer into a check status and an output that never echoes the key. */
export function judge(res: ProbeResponse, spec: ProbeSpec, authorized: boolean): [CheckStatus, string] {
  const { status } = res;
  const line = `GET ${spec.path}`;
  if (status >= 200 && status < 300) return ['pass', `${line}: HTTP ${status}`];
  if (status === 401 || status === 403) {
    // Without a sidecar key the workers' own keys go upstream: a refusal here only proves it answers.
    if (!authorized) return ['pass', `${line}: HTTP ${status} (reachable; workers' own keys are forwarded)`];
    const code = errorCodeOf(res.body) ?? (status === 401 ? 'invalid_api_key' : 'forbidden');
    return ['fail', `${code}: the provider rejected ${spec.keyVar} (HTTP ${status})`];
  }
  if (status === 429) {
    const code = errorCodeOf(res.body);
    return ['warn', code ? `rate limited by provider: ${code}` : 'rate limited by provider'];
  }
  if (status >= 500) return ['fail', `HTTP ${status}`];
  if (status === 404) return ['fail', `HTTP 404: ${line} not found; check ${spec.urlVar}`];
  return ['warn', `HTTP ${status} from ${line}`];
}

const CODE_FORM = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The provider's machine-readable error code: OpenAI `{"error":{"code"|"type"}}`, LlamaCloud
 * `{"code"}` or a short `{"detail"}` naming an invalid key. Only code-shaped strings are taken,
 * never a message: OpenAI's message repeats the start of the key it refused.
 */
function errorCodeOf(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  const error = record['error'];
  if (typeof error === 'object' && error !== null) {
    const { code } = error as Record<string, unknown>;
    if (typeof code === 'string' && CODE_FORM.test(code)) return code;
  }
  const code = record['code'];
  if (typeof code === 'string' && CODE_FORM.test(code)) return code;
  const detail = record['detail'];
  if (typeof detail === 'string' && /invalid api key/i.test(detail)) return 'invalid_api_key';
  return undefined;
}
