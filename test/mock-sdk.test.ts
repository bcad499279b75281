import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { llamaParseReader, startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe('the official clients work unchanged against the sidecar in MOCK mode', () => {
  let tg: TestTollgate;
  let client: OpenAI;

  before(async () => {
    tg = await startTestTollgate({ SERVICE_MODE: 'mock', MOCK_PARSE_DELAY_MS: '100', MOCK_SEED: '7' });
    client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'sk-placeholder', maxRetries: 0 });
  });
  after(() => tg.close());

  it('chat: plain, n, max_tokens → length, json response_format', async () => {
    const r = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Say something' }],
      n: 2,
      max_tokens: 5,
    });
    assert.equal(r.choices.length, 2);
    assert.ok(r.choices.every((c) => c.finish_reason === 'length'));
    assert.equal(r.usage?.completion_tokens, 10);
    const j = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Reply in json' }],
      response_format: { type: 'json_object' },
    });
    assert.equal(typeof JSON.parse(j.choices[0]!.message.content!), 'object');
    assert.equal(tg.calls.at(-1)?.servedBy, 'mock');
  });

  it('chat stream with and without include_usage', async () => {
    let text = '';
    let sawUsage = false;
    for await (const c of await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream' }],
      stream: true,
    })) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) sawUsage = true;
    }
    assert.ok(text.length > 0);
    assert.equal(sawUsage, false, 'no usage chunk unless asked');
    assert.ok((tg.calls.at(-1)?.usage?.outputTokens ?? 0) > 0, 'metered all the same');
    const final = await client.chat.completions
      .stream({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'usage' }],
        stream_options: { include_usage: true },
      })
      .finalChatCompletion();
    assert.ok((final.usage?.total_tokens ?? 0) > 0);
  });

  it('is deterministic for a seed and input', async () => {
    const ask = () =>
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'same' }] });
    const [a, b] = await Promise.all([ask(), ask()]);
    assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content);
  });

  it('embeddings: base64 by default, dims per model, dimensions honoured', async () => {
    const small = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'] });
    assert.equal(small.data[0]!.embedding.length, 1536);
    const norm = Math.hypot(...small.data[0]!.embedding);
    assert.ok(Math.abs(norm - 1) < 1e-5);
    const large = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'x', dimensions: 256 });
    assert.equal(large.data[0]!.embedding.length, 256);
    assert.equal(tg.calls.at(-1)?.usage?.inputTokens, large.usage.prompt_tokens);
  });

  it('responses: JSON and the SSE event sequence', async () => {
    const r = await client.responses.create({ model: 'gpt-4.1-mini', input: 'Hello' });
    assert.ok(r.output_text.length > 0);
    const types: string[] = [];
    for await (const ev of await client.responses.create({ model: 'gpt-4.1-mini', input: 'Hello', stream: true })) {
      types.push(ev.type);
    }
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    assert.ok(types.includes('response.output_text.delta'));
    assert.ok((tg.calls.at(-1)?.usage?.outputTokens ?? 0) > 0);
  });

  it('models: list and retrieve', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.ok(ids.includes('gpt-4o-mini'));
    assert.equal((await client.models.retrieve('gpt-4o-mini')).id, 'gpt-4o-mini');
    await assert.rejects(client.models.retrieve('nope-model'), OpenAI.NotFoundError);
  });

  it('LlamaParseReader loads a real PDF and a markdown file through /llamaparse', async () => {
    const reader = llamaParseReader(`${tg.url}/llamaparse`);
    const pdf = await reader.loadData(fixture('documents/sample-report.pdf'));
    assert.equal(pdf.length, 3, 'one document per PDF page');
    assert.ok(pdf.every((d) => d.text.trim().length > 0));
    const md = await reader.loadData(fixture('documents/handbook.md'));
    assert.match(md.map((d) => d.text).join('\n'), /^# /m);
    assert.ok(tg.calls.some((c) => c.operation === 'parse.upload' && c.servedBy === 'mock'));
  });

  it('raw v1 (unversioned paths) and v2 HTTP', async () => {
    const form = new FormData();
    form.append('file', new Blob([await readFile(fixture('documents/price-list.csv'))]), 'price-list.csv');
    const up = (await (
      await fetch(`${tg.url}/llamaparse/api/parsing/upload`, { method: 'POST', body: form })
    ).json()) as {
      id: string;
      status: string;
    };
    assert.equal(up.status, 'PENDING');
    await until(async () => {
      const j = (await (await fetch(`${tg.url}/llamaparse/api/parsing/job/${up.id}`)).json()) as { status: string };
      return j.status === 'SUCCESS';
    });
    const md = (await (await fetch(`${tg.url}/llamaparse/api/parsing/job/${up.id}/result/markdown`)).json()) as {
      markdown: string;
      job_metadata: { credits_used: number; job_pages: number };
    };
    assert.match(md.markdown, /\|/, 'CSV becomes a markdown table');
    assert.equal(md.job_metadata.credits_used, md.job_metadata.job_pages * 3);

    const v2form = new FormData();
    v2form.append('file', new Blob([await readFile(fixture('documents/handbook.md'))]), 'handbook.md');
    v2form.append('configuration', JSON.stringify({ tier: 'fast', version: 'latest' }));
    const v2 = await fetch(`${tg.url}/llamaparse/api/v2/parse/upload`, { method: 'POST', body: v2form });
    assert.equal(v2.status, 200);
    const created = (await v2.json()) as { id: string };
    let got: { job: { status: string }; markdown?: { pages: unknown[] } } = { job: { status: '' } };
    await until(async () => {
      got = (await (
        await fetch(`${tg.url}/llamaparse/api/v2/parse/${created.id}?expand=markdown`)
      ).json()) as typeof got;
      return got.job.status === 'COMPLETED';
    });
    assert.ok((got.markdown?.pages.length ?? 0) > 0);
  });

  it('answers unknown OpenAI paths with a 404 in OpenAI shape, and LlamaCloud paths in its shape', async () => {
    const o = await fetch(`${tg.url}/openai/v1/fine_tuning/jobs`);
    assert.equal(o.status, 404);
    assert.equal(((await o.json()) as { error: { code: string } }).error.code, 'not_found');
    const l = await fetch(`${tg.url}/llamaparse/api/v1/pipelines`);
    assert.equal(l.status, 404);
    assert.equal(((await l.json()) as { code: string }).code, 'not_found');
  });
});
