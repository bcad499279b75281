import type { Config } from '../config/index.js';
import { upstreamTimeout, upstreamUnreachable } from '../errors.js';
import { CATALOG, type Provider } from '../providers/index.js';
import type { UpstreamFailure } from './upstream.js';

/**
 * The 502/504 a REAL call answers when the provider gave no answer: the address tried (origin
 * host:port, never credentials), the transport's code and what to check.
 */

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_|HOSTNAME_MISMATCH)/;

/** `host:port` of the upstream URL, the port spelled out; user and password are never part of it. */
export function upstreamAddress(url: string): string {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    return `${u.hostname}:${port}`;
  } catch {
    return '(an invalid URL)';
  }
}

function unreachableRemedy(code: string, urlVar: string): string {
  if (code === 'ECONNREFUSED') return `nothing accepts connections there; check ${urlVar} and that the upstream runs`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `the host name did not resolve (DNS); check ${urlVar} and the resolver`;
  if (TLS_CODE.test(code))
    return `the TLS handshake failed; check the upstream's certificate (NODE_EXTRA_CA_CERTS for a private CA) and ${urlVar}`;
  return `the connection failed before an answer came; check ${urlVar} and the network between`;
}

export function failureError(cfg: Config, provider: Provider, failure: UpstreamFailure) {
  const facts = CATALOG.find((f) => f.name === provider)!;
  const address = upstreamAddress(cfg.providers[provider].upstreamUrl);
  if (failure.reason === 'upstream_timeout') {
    const connect = failure.code === 'UND_ERR_CONNECT_TIMEOUT';
    const cause = connect
      ? `UND_ERR_CONNECT_TIMEOUT: no connection within UPSTREAM_CONNECT_TIMEOUT_MS=${cfg.upstream.connectTimeoutMs}`
      : `${failure.code ?? 'timeout'}: no complete answer within UPSTREAM_TIMEOUT_MS=${cfg.upstream.timeoutMs}`;
    const remedy = connect
      ? `check ${facts.urlVar} and the network, or raise UPSTREAM_CONNECT_TIMEOUT_MS`
      : 'raise UPSTREAM_TIMEOUT_MS for slow answers, or retry';
    return upstreamTimeout(provider, address, cause, remedy, failure);
  }
  const code = failure.code ?? 'connection failed';
  return upstreamUnreachable(provider, address, code, unreachableRemedy(code, facts.urlVar), failure);
}
