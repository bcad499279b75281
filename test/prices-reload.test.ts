import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const shipped = JSON.parse(
  readFileSync(fileURLToPath(new URL('../src/metering/prices.json', import.meta.url)), 'utf8'),
) as { openai: Record<string, { input_per_1m: number; output_per_1m: number }> };

describe('the price table hot-reloads from PRICES_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-prices-'));
  const pricesFile = join(dir, 'prices.json');
  const write = (input: number) => {
    const table = structuredClone(shipped);
    table.openai['gpt-4o-mini']!.input_per_1m = input;
    table.openai['gpt-4o-mini']!.output_per_1m = 0;
    writeFileSync(pricesFile, JSON.stringify(table));
  };
  let tg: TestTollgate;
  const cost = async () => {
    const r = await fetch(`${tg.url}/openai/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', input: 'one two three' }),
    });
    await r.arrayBuffer();
    return Number(r.headers.get('x-tollgate-cost-usd'));
  };

  before(async () => {
    write(1);
    const envFile = join(dir, 'env');
    writeFileSync(envFile, `PRICES_FILE=${pricesFile}\n`);
    tg = await startTestTollgate({ ENV_FILE: envFile }, { watch: true });
  });
  after(() => tg.close());

  it('prices the next call with an edited table, and keeps the old one when the edit is invalid', async (t) => {
    const first = await cost();
    assert.ok(first > 0);
    write(3);
    const waited = await until(async () => Math.abs((await cost()) - 3 * first) < 1e-12, 3000, 20);
    t.diagnostic(`new prices in force ${waited.toFixed(0)} ms after the edit`);
    writeFileSync(pricesFile, JSON.stringify({ ...shipped, openai: { 'gpt-4o-mini': { input_per_1m: -1 } } }));
    await until(() => tg.logText().includes('price table reload rejected'), 3000);
    assert.ok(Math.abs((await cost()) - 3 * first) < 1e-12, 'the previous prices stay in force');
  });
});
