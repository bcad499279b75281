/**
 * The official `@llamaindex/llama-cloud` SDK (2.16.0, pinned) drives v2 parsing through the
 * sidecar in MOCK mode unchanged: `parsing.parse()` uploads the file (`POST /api/v2/parse/upload`),
 * polls `GET /api/v2/parse/{id}` and returns the job with the expansions asked for. Only its
 * `baseURL` points at the sidecar's LlamaParse prefix. Runs on Node 20 as it is.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import LlamaCloud, { toFile } from '@llamaindex/llama-cloud';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const prices = JSON.parse(
  readFileSync(fileURLToPath(new URL('../src/metering/prices.json', import.meta.url)), 'utf8'),
) as { llamaparse: { usd_per_1000_credits: number; credits_per_page: Record<string, number> } };
/** test/fixtures/documents/sample-report.pdf: three pages, one Helvetica text block each. */
const REPORT_PAGES = 3;
const TIERS = ['fast', 'cost_effective', 'agentic', 'agentic_plus'] as const;
const EXPAND = ['text', 'markdown', 'items', 'job_metadata', 'usage'];

describe('@llamaindex/llama-cloud parsing.parse() through the sidecar (MOCK)', () => {
  let tg: TestTollgate;
  let client: LlamaCloud;
  let pdf: Buffer;

  before(async () => {
    tg = await startTestTollgate({ SERVICE_MODE: 'mock', MOCK_PARSE_DELAY_MS: '50', MOCK_SEED: '7' });
    client = new LlamaCloud({ apiKey: 'llx-placeholder', baseURL: `${tg.url}/llamaparse`, maxRetries: 0 });
    pdf = await readFile(fixture('documents/sample-report.pdf'));
  });
  after(() => tg.close());

  for (const tier of TIERS) {
    it(`${tier}: usage.credits = ${REPORT_PAGES} pages × ${prices.llamaparse.credits_per_page[tier]!} credits, content matches the PDF`, async () => {
      const perPage = prices.llamaparse.credits_per_page[tier]!;
      const result = await client.parsing.parse(
        { tier, version: 'latest', upload_file: await toFile(pdf, 'sample-report.pdf'), expand: EXPAND },
        { pollingInterval: 0.02, maxInterval: 0.05, timeout: 30 },
      );
      const { job } = result;
      assert.equal(job.status, 'COMPLETED');
      assert.equal(job.tier, tier);
      assert.equal(job.name, 'sample-report.pdf');
      assert.equal(job.usage?.credits, REPORT_PAGES * perPage);

      // job_metadata agrees with usage and the page count.
      const meta = result.job_metadata as Record<string, unknown>;
      assert.equal(meta.job_pages, REPORT_PAGES);
      assert.equal(meta.credits_used, REPORT_PAGES * perPage);

      // text, markdown and items: one entry per page, numbered 1..3, each with that page's words.
      const pageNumbers = Array.from({ length: REPORT_PAGES }, (_, i) => i + 1);
      const text = result.text?.pages ?? [];
      const markdown = result.markdown?.pages ?? [];
      const items = result.items?.pages ?? [];
      assert.deepEqual(
        text.map((p) => p.page_number),
        pageNumbers,
      );
      assert.deepEqual(
        markdown.map((p) => p.page_number),
        pageNumbers,
      );
      assert.deepEqual(
        items.map((p) => p.page_number),
        pageNumbers,
      );
      const md = markdown.map((p) => ('markdown' in p ? p.markdown : ''));
      if (tier === 'fast') {
        // The fast tier outputs spatial text only, as LlamaCloud's does: its markdown is the text.
        assert.deepEqual(
          md,
          text.map((p) => p.text),
        );
      } else {
        assert.match(md[0]!, /^# Tollgate Sample Report$/m);
        assert.match(md[1]!, /^## Methods$/m);
        assert.match(md[2]!, /^## Conclusion$/m);
      }
      assert.match(text[0]!.text, /^Tollgate Sample Report$/m);
      assert.match(text[1]!.text, /standard Helvetica font/);
      assert.match(text[2]!.text, /Documents parsed in mock mode never leave the machine/);
      for (const [i, page] of items.entries()) {
        assert.ok('items' in page && page.items.length > 0, `page ${i + 1} has items`);
        // Every item's text is on the same page of the plain text and of the markdown.
        for (const item of page.items) {
          const value = (item as { value?: string }).value ?? '';
          assert.ok(text[i]!.text.includes(value), `page ${i + 1} text has ${JSON.stringify(value)}`);
          const itemMd = tier === 'fast' ? value : ((item as { md?: string }).md ?? value);
          assert.ok(md[i]!.includes(itemMd), `page ${i + 1} markdown has ${JSON.stringify(itemMd)}`);
        }
      }

      // The sidecar booked the job once, at its credits' price.
      const booked = tg.calls.filter((c) => c.provider === 'llamaparse' && (c.usage?.pages ?? 0) > 0).at(-1);
      assert.equal(booked?.operation, 'parse.v2.get');
      assert.equal(booked?.usage?.pages, REPORT_PAGES);
      assert.ok(
        Math.abs((booked?.costUsd ?? 0) - (REPORT_PAGES * perPage * prices.llamaparse.usd_per_1000_credits) / 1000) <
          1e-12,
        `cost ${booked?.costUsd}`,
      );
      assert.ok(tg.calls.every((c) => c.servedBy === 'mock'));
    });
  }
});
