import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rateLimitHeaders } from './headers.js';

describe('rateLimitHeaders', () => {
  it('names the tightest bucket of each kind, in the OpenAI and IETF draft forms', () => {
    const h = rateLimitHeaders([
      { kind: 'requests', scope: 'openai', limit: 3600, burst: 60, remaining: 59, resetMs: 1000 },
      { kind: 'tokens', scope: 'openai', limit: 60000, burst: 1000, remaining: 900, resetMs: 6000 },
      { kind: 'requests', scope: 'openai:gpt-4o', limit: 600, burst: 10, remaining: 3, resetMs: 42_000 },
    ]);
    assert.deepEqual(h, {
      'x-ratelimit-limit-requests': '600',
      'x-ratelimit-remaining-requests': '3',
      'x-ratelimit-reset-requests': '42s',
      'x-ratelimit-limit-tokens': '60000',
      'x-ratelimit-remaining-tokens': '900',
      'x-ratelimit-reset-tokens': '6s',
      'ratelimit-policy': '"requests";q=600;w=3600, "tokens";q=60000;w=3600',
      ratelimit: '"requests";r=3;t=42, "tokens";r=900;t=6',
    });
    assert.deepEqual(rateLimitHeaders([]), {});
    assert.equal(
      rateLimitHeaders([{ kind: 'pages', scope: 'llamaparse', limit: 1, burst: 1, remaining: 0, resetMs: 3_661_000 }])[
        'x-ratelimit-reset-pages'
      ],
      '1h1m1s',
    );
  });
});
