import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/index.js';
import { failureError, upstreamAddress } from './failure.js';
import { UpstreamFailure } from './upstream.js';

const config = (url: string) =>
  loadConfig({
    env: { ENV_FILE: '', STATE_URL: 'memory:', OPENAI_UPSTREAM_URL: url, OPENAI_API_KEY: 'sk-secret-key-0123456789' },
  }).config;

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });
const message = (e: { body(shape: 'openai'): object }) =>
  (e.body('openai') as { error: { message: string } }).error.message;

describe('upstream failure errors', () => {
  it('names the address tried with its port, never the credentials of the URL', () => {
    assert.equal(upstreamAddress('https://user:pw@api.example.com/v1'), 'api.example.com:443');
    assert.equal(upstreamAddress('http://127.0.0.1:9/v1'), '127.0.0.1:9');
    const e = failureError(
      config('https://api.example.com/v1'),
      'openai',
      new UpstreamFailure('upstream_unreachable', coded('ECONNREFUSED')),
    );
    assert.equal(e.status, 502);
    assert.equal(e.code, 'upstream_unreachable');
    assert.match(message(e), /at api\.example\.com:443 \(ECONNREFUSED\): .*OPENAI_UPSTREAM_URL/);
    assert.doesNotMatch(JSON.stringify(e.body('openai')), /pw|user|sk-secret/);
  });

  it('names DNS and TLS failures by their code, also inside an AggregateError', () => {
    const cfg = config('https://api.example.com/v1');
    const dns = failureError(cfg, 'openai', new UpstreamFailure('upstream_unreachable', coded('ENOTFOUND')));
    assert.match(message(dns), /\(ENOTFOUND\): the host name did not resolve \(DNS\)/);
    const tls = failureError(
      cfg,
      'openai',
      new UpstreamFailure('upstream_unreachable', coded('CERT_HAS_EXPIRED', 'certificate has expired')),
    );
    assert.match(message(tls), /\(CERT_HAS_EXPIRED\): the TLS handshake failed/);
    const many = new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')], 'connect failed');
    const agg = failureError(cfg, 'openai', new UpstreamFailure('upstream_unreachable', many));
    assert.match(message(agg), /\(ECONNREFUSED\)/);
  });

  it('names the timeout that fired and the variable that sets it', () => {
    const cfg = config('http://10.1.2.3:8443/v1');
    const connect = failureError(
      cfg,
      'openai',
      new UpstreamFailure('upstream_timeout', coded('UND_ERR_CONNECT_TIMEOUT')),
    );
    assert.equal(connect.status, 504);
    assert.match(message(connect), /at 10\.1\.2\.3:8443 .*UND_ERR_CONNECT_TIMEOUT: .*UPSTREAM_CONNECT_TIMEOUT_MS=2000/);
    const headers = failureError(
      cfg,
      'openai',
      new UpstreamFailure('upstream_timeout', coded('UND_ERR_HEADERS_TIMEOUT')),
    );
    assert.match(message(headers), /UND_ERR_HEADERS_TIMEOUT: no complete answer within UPSTREAM_TIMEOUT_MS=120000/);
    const ours = failureError(
      cfg,
      'openai',
      new UpstreamFailure('upstream_timeout', new DOMException('t', 'TimeoutError')),
    );
    assert.match(message(ours), /\(timeout: no complete answer within UPSTREAM_TIMEOUT_MS=120000\)/);
  });
});
