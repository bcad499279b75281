import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { worstCaseCost } from '../src/metering/cost.js';
import { PriceSource } from '../src/metering/prices.js';
import { countChatTokens } from '../src/providers/openai/tokens.js';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const KEY = 'sk-test-limits-key-0123456789';
const ADMIN = 'admin-token-0123456789';
const messages = [{ role: 'user' as const, content: 'count me against the budget' }];
const MAX = 8;

/** The worst case the sidecar reserves for one of these calls, computed the same way. */
const worstUsd = () =>
  worstCaseCost(new PriceSource().current, 'openai', 'gpt-4o-mini', countChatTokens('gpt-4o-mini', messages), MAX).usd;

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('budgets and buckets hold under concurrency (one sidecar)', () => {
  let standin: Standin;
  before(async () => {
    // Streams spaced out keep every admitted call in flight while the rest are decided.
    standin = await startStandin({ expectOpenAIKey: KEY, chunkGapMs: 40, streamChunks: MAX, quiet: true });
  });
  after(() => standin.close());

  it('admits exactly N calls when the daily budget fits N worst cases, and the upstream sees exactly N', async () => {
    const N = 7;
    const w = worstUsd();
    const tg = await startTestTollgate({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      BUDGET_DAILY_USD: String(N * w + w / 2),
    });
    standin.reset();
    try {
      const results = await Promise.all(
        Array.from({ length: 4 * N }, async () => {
          const r = await post(`${tg.url}/openai/v1/chat/completions`, {
            model: 'gpt-4o-mini',
            messages,
            max_tokens: MAX,
            stream: true,
          });
          const text = await r.text();
          return { status: r.status, text, retry: r.headers.get('x-should-retry') };
        }),
      );
      const ok = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.status === 429);
      assert.equal(ok.length, N);
      assert.equal(refused.length, 3 * N);
      assert.equal(standin.hits('/v1/chat/completions'), N);
      for (const r of refused) {
        assert.equal(JSON.parse(r.text).error.code, 'budget_exceeded');
        assert.equal(JSON.parse(r.text).error.type, 'insufficient_quota');
        assert.equal(r.retry, 'false');
      }
      const snap = await tg.limiter.snapshot();
      const daily = snap.budgets.find((b) => b.scope === 'total' && b.window === 'daily')!;
      assert.ok(daily.spentUsd <= daily.limitUsd, `spent ${daily.spentUsd} ≤ limit ${daily.limitUsd}`);
      assert.ok(daily.spentUsd > 0);
      assert.equal(daily.heldUsd, 0, 'every hold released after settlement');
    } finally {
      await tg.close();
    }
  });

  it('admits exactly the burst of a request bucket', async () => {
    const tg = await startTestTollgate({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      OPENAI_REQUESTS_PER_HOUR: '36',
      OPENAI_REQUESTS_BURST: '5',
    });
    standin.reset();
    try {
      const statuses = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const r = await post(`${tg.url}/openai/v1/chat/completions`, {
            model: 'gpt-4o-mini',
            messages,
            max_tokens: 4,
          });
          await r.arrayBuffer();
          return r;
        }),
      );
      const ok = statuses.filter((r) => r.status === 200);
      const limited = statuses.filter((r) => r.status === 429);
      assert.equal(ok.length, 5);
      assert.equal(standin.hits('/v1/chat/completions'), 5);
      assert.equal(limited.length, 15);
      const r = limited[0]!;
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.ok(Number(r.headers.get('retry-after-ms')) > 0);
      assert.equal(ok[0]!.headers.get('x-ratelimit-limit-requests'), '36');
      assert.match(ok[0]!.headers.get('ratelimit-policy') ?? '', /"requests";q=36;w=3600/);
      assert.match(ok.at(-1)!.headers.get('ratelimit') ?? '', /"requests";r=\d+;t=\d+/);
      assert.equal(tg.calls.filter((c) => c.limitedBy === 'requests').length, 15);
    } finally {
      await tg.close();
    }
  });

  it('refuses at once a call whose worst case alone exceeds a bucket or the budget', async () => {
    const tg = await startTestTollgate({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      OPENAI_TOKENS_PER_HOUR: '600000',
      OPENAI_TOKENS_BURST: '1000',
      LLAMAPARSE_BUDGET_DAILY_USD: '1',
    });
    try {
      const t0 = performance.now();
      const r = await post(`${tg.url}/openai/v1/chat/completions`, {
        model: 'gpt-4o-mini',
        messages,
        max_tokens: 5000,
      });
      assert.equal(r.status, 429);
      const body = (await r.json()) as { error: { code: string; type: string; message: string } };
      assert.equal(body.error.code, 'rate_limit_exceeded');
      assert.equal(body.error.type, 'tokens');
      assert.match(body.error.message, /more than/);
      assert.ok(performance.now() - t0 < 1000, 'no hang');
      const big = await startTestTollgate({
        OPENAI_MODE: 'real',
        OPENAI_API_KEY: KEY,
        OPENAI_UPSTREAM_URL: standin.openaiBase,
        OPENAI_BUDGET_DAILY_USD: '0.000001',
      });
      try {
        const b = await post(`${big.url}/openai/v1/chat/completions`, { model: 'gpt-4o', messages, max_tokens: 4000 });
        assert.equal(b.status, 429);
        assert.match(((await b.json()) as { error: { message: string } }).error.message, /more than the whole/);
      } finally {
        await big.close();
      }
    } finally {
      await tg.close();
    }
  });

  it('names the variable of a refusing budget and the max_tokens that would fit, which then does', async () => {
    // 100 max_tokens' worth of gpt-4o output plus the prompt: room for fewer than 4096.
    const prompt = worstCaseCost(
      new PriceSource().current,
      'openai',
      'gpt-4o',
      countChatTokens('gpt-4o', messages),
      100,
    );
    const tg = await startTestTollgate({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      OPENAI_BUDGET_DAILY_USD: String(prompt.usd),
    });
    try {
      const r = await post(`${tg.url}/openai/v1/chat/completions`, { model: 'gpt-4o', messages, max_tokens: 4096 });
      assert.equal(r.status, 429);
      const { error } = (await r.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'budget_exceeded');
      assert.match(error.message, /set by OPENAI_BUDGET_DAILY_USD/);
      const fits = /assumes max_tokens=4096; with \$[0-9.]+ left, max_tokens ≤ (\d+) would fit\./.exec(error.message);
      assert.ok(fits, error.message);
      assert.equal(Number(fits[1]), 100, 'exactly what the budget holds');
      const ok = await post(`${tg.url}/openai/v1/chat/completions`, { model: 'gpt-4o', messages, max_tokens: 100 });
      assert.equal(ok.status, 200, 'the max_tokens the message named is admitted');
      await ok.arrayBuffer();
    } finally {
      await tg.close();
    }
  });

  it('degrades to the mock with BUDGET_EXCEEDED_ACTION=mock, reason budget_exceeded', async () => {
    const tg = await startTestTollgate({
      OPENAI_MODE: 'hybrid',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      BUDGET_DAILY_USD: '0.0000001',
      BUDGET_EXCEEDED_ACTION: 'mock',
    });
    standin.reset();
    try {
      const client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'x', maxRetries: 0 });
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages, max_tokens: MAX })
        .withResponse();
      assert.equal(data.object, 'chat.completion');
      assert.equal(response.headers.get('x-tollgate-served-by'), 'mock');
      assert.equal(response.headers.get('x-tollgate-fallback'), 'budget_exceeded');
      assert.equal(standin.hits(), 0);
    } finally {
      await tg.close();
    }
  });
});

describe('metering of every call', () => {
  let standin: Standin;
  let tg: TestTollgate;
  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, chunkGapMs: 20, streamChunks: 6, quiet: true });
    tg = await startTestTollgate({
      SERVICE_MODE: 'real',
      ANTHROPIC_MODE: 'mock',
      OPENAI_API_KEY: KEY,
      LLAMA_CLOUD_API_KEY: 'llx-test-limits-0123456789',
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      ADMIN_TOKEN: ADMIN,
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });

  const costs = async () =>
    (await (
      await fetch(`${tg.url}/admin/costs?window=day&group_by=provider,model,served_by`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      })
    ).json()) as {
      total: { cost_usd: number; requests: number; output_tokens: number };
      groups: { provider: string; model: string; served_by: string; requests: number; cost_usd: number }[];
    };

  it('puts the cost of a JSON answer in x-tollgate-cost-usd, from the usage and the price table', async () => {
    const r = await post(`${tg.url}/openai/v1/chat/completions`, { model: 'gpt-4o-mini', messages });
    const body = (await r.json()) as {
      usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number } };
    };
    const u = body.usage;
    // gpt-4o-mini: $0.15 / 1M input, $0.075 / 1M cached, $0.60 / 1M output.
    const expected =
      ((u.prompt_tokens - u.prompt_tokens_details.cached_tokens) * 0.15 +
        u.prompt_tokens_details.cached_tokens * 0.075 +
        u.completion_tokens * 0.6) /
      1e6;
    assert.ok(Math.abs(Number(r.headers.get('x-tollgate-cost-usd')) - expected) < 1e-12);
  });

  it('meters a stream whose usage chunk was stripped, and books a stream cut short from what it delivered', async () => {
    const before = (await costs()).total;
    const client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'x', maxRetries: 0 });
    for await (const _ of await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })) {
      // drain
    }
    const full = tg.calls.at(-1)!;
    assert.equal(full.usage?.reported, true);
    assert.equal(full.usage?.outputTokens, 6);

    await standin.setFault({ kind: 'reset-mid-body' }, { times: 1 });
    const r = await post(`${tg.url}/openai/v1/chat/completions`, { model: 'gpt-4o-mini', messages, stream: true });
    await r.text().catch(() => '');
    await new Promise((res) => setTimeout(res, 100));
    const cut = tg.calls.at(-1)!;
    assert.notEqual(cut.usage?.reported, true);
    assert.ok((cut.usage?.inputTokens ?? 0) > 0, 'input counted by tokenizer');
    const after = (await costs()).total;
    assert.equal(after.requests, before.requests + 2, 'both streams are ledger rows');
    assert.ok(after.cost_usd > before.cost_usd);
  });

  it('books an unknown model at 0 and marks it unpriced', async () => {
    const r = await post(`${tg.url}/openai/v1/chat/completions`, { model: 'my-private-model', messages });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-tollgate-cost-usd'), '0');
    assert.equal(tg.calls.at(-1)?.unpriced, true);
    const g = (await costs()).groups.find((x) => x.model === 'my-private-model');
    assert.equal(g?.requests, 1);
    assert.equal(g?.cost_usd, 0);
  });

  it('books a LlamaParse job once, however often its result is read', async () => {
    const form = new FormData();
    form.append('file', new Blob(['page one\fpage two\fpage three']), 'three.txt');
    const up = (await (
      await fetch(`${tg.url}/llamaparse/api/v1/parsing/upload`, { method: 'POST', body: form })
    ).json()) as { id: string };
    const before = (await costs()).groups
      .filter((g) => g.provider === 'llamaparse')
      .reduce((n, g) => n + g.requests, 0);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${tg.url}/llamaparse/api/v1/parsing/job/${up.id}/result/markdown`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const rows = (await costs()).groups.filter((g) => g.provider === 'llamaparse');
    assert.equal(
      rows.reduce((n, g) => n + g.requests, 0),
      before + 1,
    );
    assert.ok(rows.reduce((n, g) => n + g.cost_usd, 0) > 0);
  });

  it('books mock answers with their shadow cost, apart from real spend', async () => {
    tg.modes.set('mock', 'openai');
    try {
      await post(`${tg.url}/openai/v1/embeddings`, { model: 'text-embedding-3-small', input: 'shadow' }).then((r) =>
        r.arrayBuffer(),
      );
      const g = (await costs()).groups.find((x) => x.served_by === 'mock' && x.model === 'text-embedding-3-small');
      assert.equal(g?.requests, 1);
      assert.ok((g?.cost_usd ?? 0) > 0);
    } finally {
      tg.modes.set('real', 'openai');
    }
  });
});
