import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { cli } from './support/cli.js';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const KEY = 'sk-test-record-key-0123456789abcdef';
const WORKER_KEY = 'sk-worker-own-key-9876543210fedcba';
const ADMIN = 'admin-token-for-record-tests-0123';

const chatBody = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Summarise the contract' }] };
const embedBody = { model: 'text-embedding-3-small', input: ['chunk one', 'chunk two'] };
const responsesBody = { model: 'gpt-4o-mini', input: 'Say hello' };

interface Seen {
  chat: { text: string; id: string | null };
  stream: string[];
  embeddings: string;
  responses: { text: string; id: string | null };
  responsesStream: string[];
}

/** Every call the test makes, as the SDK's raw bodies and events: what must come back identical. */
async function drive(client: OpenAI, user: string): Promise<Seen> {
  const chat = await client.chat.completions.create({ ...chatBody, user }).asResponse();
  const chatText = await chat.text();
  const stream = await client.chat.completions.create({ ...chatBody, stream: true, metadata: { run: user } });
  const events: string[] = [];
  for await (const ev of stream) events.push(JSON.stringify(ev));
  const emb = await client.embeddings.create({ ...embedBody, user }).asResponse();
  const resp = await client.responses.create({ ...responsesBody }).asResponse();
  const rs = await client.responses.create({ ...responsesBody, stream: true });
  const rEvents: string[] = [];
  for await (const ev of rs) rEvents.push(JSON.stringify(ev));
  return {
    chat: { text: chatText, id: chat.headers.get('x-tollgate-served-by') },
    stream: events,
    embeddings: await emb.text(),
    responses: { text: await resp.text(), id: resp.headers.get('x-tollgate-served-by') },
    responsesStream: rEvents,
  };
}

describe('record and replay with the official OpenAI SDK', () => {
  let standin: Standin;
  let dir: string;
  let recorder: TestTollgate;
  let recorded: Seen;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-cassettes-'));
    standin = await startStandin({ expectOpenAIKey: KEY, chunkGapMs: 5, quiet: true });
    recorder = await startTestTollgate({
      OPENAI_MODE: 'record',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      CASSETTE_DIR: dir,
      ADMIN_TOKEN: ADMIN,
    });
    const client = new OpenAI({ baseURL: `${recorder.url}/openai/v1`, apiKey: WORKER_KEY, maxRetries: 0 });
    recorded = await drive(client, 'first-run');
    await recorder.close();
    await standin.close();
  });
  after(async () => {
    await recorder?.close().catch(() => {});
    await standin?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('records each interaction as one readable JSON file, and the provider answered them', async () => {
    const files = (await readdir(dir)).sort();
    assert.equal(files.length, 5, files.join(', '));
    assert.ok(files.every((f) => /^openai_[a-z-]+_[0-9a-f]{24}\.json$/.test(f)));
    const stream = files
      .map(
        (f) =>
          JSON.parse(readFileSync(join(dir, f), 'utf8')) as { response: { body: { events?: { delay_ms: number }[] } } },
      )
      .find((c) => c.response.body.events !== undefined);
    assert.ok(stream, 'a stream was recorded as events');
    assert.ok((stream.response.body.events?.length ?? 0) > 3);
    assert.equal(recorded.chat.id, 'real');
  });

  it('replays byte-identical bodies, the same ids and the same stream events with no provider', async () => {
    const replayer = await startTestTollgate({ OPENAI_MODE: 'replay', CASSETTE_DIR: dir, REPLAY_MISS: 'error' });
    try {
      const client = new OpenAI({ baseURL: `${replayer.url}/openai/v1`, apiKey: 'sk-anything', maxRetries: 0 });
      // Volatile fields (user, metadata) differ from the recording run: still the same recordings.
      const replayed = await drive(client, 'second-run');
      assert.equal(replayed.chat.text, recorded.chat.text);
      assert.equal(replayed.embeddings, recorded.embeddings);
      assert.equal(replayed.responses.text, recorded.responses.text);
      assert.deepEqual(replayed.stream, recorded.stream);
      assert.deepEqual(replayed.responsesStream, recorded.responsesStream);
      assert.equal(replayed.chat.id, 'replay');
      assert.equal(replayed.responses.id, 'replay');
      const ids = new Set(recorded.stream.map((e) => (JSON.parse(e) as { id: string }).id));
      assert.equal(ids.size, 1, 'one completion id across the stream');
      // The ledger has the recorded usage at its shadow cost, served by replay.
      const rows = await replayer.store.rows({ from: 0, to: Date.now() + 1000 });
      assert.equal(rows.length, 5);
      assert.ok(rows.every((r) => r.servedBy === 'replay' && !r.billable));
      const chatRow = rows.find((r) => r.operation === 'chat');
      assert.ok(chatRow !== undefined && chatRow.inputTokens > 0 && chatRow.costNanoUsd > 0);
      // The request log lines say who answered.
      const lines = replayer
        .logText()
        .split('\n')
        .filter((l) => l.includes('"msg":"request"'))
        .map((l) => JSON.parse(l) as { served_by: string; mode: string });
      assert.equal(lines.length, 5);
      assert.ok(lines.every((l) => l.served_by === 'replay' && l.mode === 'replay'));
    } finally {
      await replayer.close();
    }
  });

  it('answers a request with no recording 404 cassette_miss under REPLAY_MISS=error', async () => {
    const replayer = await startTestTollgate({ OPENAI_MODE: 'replay', CASSETTE_DIR: dir, REPLAY_MISS: 'error' });
    try {
      const client = new OpenAI({ baseURL: `${replayer.url}/openai/v1`, apiKey: 'sk-anything', maxRetries: 0 });
      const err = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'never recorded' }] })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.equal((err.error as { code?: string }).code, 'cassette_miss');
    } finally {
      await replayer.close();
    }
  });

  it('answers a miss with the mock under REPLAY_MISS=mock, saying why', async () => {
    const replayer = await startTestTollgate({ OPENAI_MODE: 'replay', CASSETTE_DIR: dir });
    try {
      const res = await fetch(`${replayer.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'never recorded' }] }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-tollgate-served-by'), 'mock');
      assert.equal(res.headers.get('x-tollgate-fallback'), 'replay_miss');
      assert.equal(res.headers.get('x-tollgate-mode'), 'replay');
    } finally {
      await replayer.close();
    }
  });

  it('lists, shows and prunes recordings with tollgate cassettes', async () => {
    const env = { ENV_FILE: '', CASSETTE_DIR: dir };
    const list = await cli(['cassettes', 'list', '--json'], env, dir);
    assert.equal(list.code, 0, list.stderr);
    const entries = JSON.parse(list.stdout) as { file: string; provider: string; path: string; status: number }[];
    assert.equal(entries.length, 5);
    assert.ok(entries.some((e) => e.path === '/embeddings' && e.status === 200 && e.provider === 'openai'));
    const shown = await cli(['cassettes', 'show', entries[0]!.file], env, dir);
    assert.equal(JSON.parse(shown.stdout).key.length, 64);
    const none = await cli(['cassettes', 'prune', '--older-than', '1d'], env, dir);
    assert.match(none.stdout, /removed 0 recording/);
    const dry = await cli(['cassettes', 'prune', '--provider', 'openai', '--dry-run'], env, dir);
    assert.match(dry.stdout, /would remove 5 recording/);
    assert.equal((await readdir(dir)).length, 5);
    const bad = await cli(['cassettes', 'prune', '--older-than', 'soon'], env, dir);
    assert.equal(bad.code, 2);
  });

  it('never writes a key, a token or an Authorization value to a recording', async () => {
    for (const f of await readdir(dir)) {
      const text = await readFile(join(dir, f), 'utf8');
      for (const secret of [KEY, WORKER_KEY, ADMIN, 'Bearer'])
        assert.ok(!text.includes(secret), `${f} holds ${secret}`);
      assert.ok(!/authorization/i.test(text), `${f} holds an authorization header`);
    }
  });
});
