import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { admitCall } from '../../test/support/admit.js';
import { loadConfig } from '../config/index.js';
import { TollgateError } from '../errors.js';
import { MemoryStore } from '../state/memory.js';
import { type AdmitRequest, type AdmitSizing, Limiter } from './index.js';

const T0 = Date.UTC(2026, 10, 28, 12, 30);
const dir = mkdtempSync(join(tmpdir(), 'tollgate-refusal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function limiterWith(env: Record<string, string>) {
  const store = new MemoryStore({ now: () => T0 });
  const config = loadConfig({ env: { ENV_FILE: '', STATE_URL: 'memory:', ...env } }).config;
  return new Limiter({ store, config: () => config, now: () => T0 });
}

const call = (over: Partial<AdmitRequest> = {}) => admitCall({ model: 'gpt-4o', ...over });

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TollgateError);
    assert.equal(e.status, 429);
    return e.message;
  }
  assert.fail('expected a refusal');
}

/** gpt-4o-like: a prompt of 100 tokens costing $0.00025, $0.00001 per output token. */
const sizing = (over: Partial<AdmitSizing> = {}): AdmitSizing => ({
  param: 'max_tokens',
  value: 4096,
  perUnit: 1,
  given: true,
  defaultVar: 'RESERVE_OUTPUT_TOKENS',
  fixedUsd: 0.00025,
  fixedTokens: 100,
  usdPerUnit: 0.00001,
  ...over,
});

describe('429s name the setting that set the limit', () => {
  it('a requests bucket: its variable', async () => {
    const limiter = limiterWith({ OPENAI_REQUESTS_PER_HOUR: '60', OPENAI_REQUESTS_BURST: '1' });
    await limiter.admit(call());
    assert.match(
      await refused(limiter.admit(call())),
      /60 requests per hour \(burst 1\), set by OPENAI_REQUESTS_PER_HOUR\./,
    );
  });

  it('a total, a provider and a per-model budget: BUDGET_DAILY_USD, OPENAI_BUDGET_HOURLY_USD, the CONFIG_FILE path', async () => {
    assert.match(
      await refused(limiterWith({ BUDGET_DAILY_USD: '0.01' }).admit(call({ worstUsd: 0.02 }))),
      /daily total budget \(\$0\.0100, set by BUDGET_DAILY_USD\)/,
    );
    assert.match(
      await refused(limiterWith({ OPENAI_BUDGET_HOURLY_USD: '0.01' }).admit(call({ worstUsd: 0.02 }))),
      /set by OPENAI_BUDGET_HOURLY_USD/,
    );
    const file = join(dir, 'limits.json');
    writeFileSync(file, JSON.stringify({ budgets: { 'openai:gpt-4o': { daily_usd: 0.01 } } }));
    const limiter = limiterWith({ CONFIG_FILE: file, BUDGET_DAILY_USD: '5' });
    await limiter.admit(call({ worstUsd: 0.006 }));
    const message = await refused(limiter.admit(call({ worstUsd: 0.006 })));
    assert.ok(message.includes(`set by budgets.openai:gpt-4o.daily_usd in CONFIG_FILE (${file})`), message);
  });

  it('a per-model bucket: its CONFIG_FILE path', async () => {
    const file = join(dir, 'models.json');
    writeFileSync(file, JSON.stringify({ limits: { openai: { models: { 'gpt-4o': { requests_per_hour: 60 } } } } }));
    const limiter = limiterWith({ CONFIG_FILE: file });
    await limiter.admit(call());
    const message = await refused(limiter.admit(call()));
    assert.ok(
      message.includes(`set by limits.openai.models.gpt-4o.requests_per_hour in CONFIG_FILE (${file})`),
      message,
    );
  });
});

describe('429s say when max_tokens made the worst case, and how much would fit', () => {
  it('a budget: the max_tokens that fits what is left', async () => {
    const limiter = limiterWith({ BUDGET_DAILY_USD: '0.01' });
    await limiter.admit(call({ worstUsd: 0.006 }));
    // $0.004 left: (0.004 − 0.00025) / 0.00001 = 375 output tokens.
    const message = await refused(limiter.admit(call({ worstUsd: 0.04121, sizing: () => sizing() })));
    assert.match(
      message,
      /The worst case \$0\.0412 assumes max_tokens=4096; with \$0\.004000 left, max_tokens ≤ 375 would fit\./,
    );
  });

  it('names the default that stood in when the request set no max_tokens, and n choices', async () => {
    const limiter = limiterWith({ BUDGET_DAILY_USD: '0.01' });
    const s = () => sizing({ given: false, perUnit: 2, usdPerUnit: 0.00002 });
    const message = await refused(limiter.admit(call({ worstUsd: 0.08217, sizing: s })));
    assert.match(message, /assumes max_tokens=4096 \(RESERVE_OUTPUT_TOKENS, as the request set no max_tokens\)/);
    assert.match(message, /with \$0\.0100 left, max_tokens ≤ 487 would fit\./);
  });

  it('says when no max_tokens fits because the prompt alone is too much', async () => {
    const limiter = limiterWith({ BUDGET_DAILY_USD: '0.0002' });
    const message = await refused(limiter.admit(call({ worstUsd: 0.04121, sizing: () => sizing() })));
    assert.match(message, /no max_tokens would fit: the prompt alone may cost \$0\.000250\./);
  });

  it('a tokens bucket the call can never fit: the max_tokens within its capacity', async () => {
    const limiter = limiterWith({ OPENAI_TOKENS_PER_HOUR: '60000', OPENAI_TOKENS_BURST: '1000' });
    const message = await refused(limiter.admit(call({ tokens: 4196, sizing: () => sizing() })));
    assert.match(message, /the capacity is set by OPENAI_TOKENS_BURST\)/);
    assert.match(
      message,
      /The 4196 tokens assume max_tokens=4096; with a capacity of 1000, max_tokens ≤ 900 would fit\./,
    );
  });
});
