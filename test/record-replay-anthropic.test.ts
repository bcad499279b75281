/**
 * Record and replay know no provider by name: the Anthropic adapter, added beside them, records and
 * replays through the official SDK without a line of its own in the recording code. Recorded against
 * the loopback stand-in, then replayed with the stand-in stopped: the same bodies, ids and events.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { type AnthropicStandin, startAnthropicStandin } from './support/anthropic-standin.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const KEY = 'sk-ant-record-key-0123456789abcdef';
const WORKER_KEY = 'sk-ant-worker-own-9876543210fedcba';
const body = {
  model: 'claude-sonnet-5-5',
  max_tokens: 64,
  messages: [{ role: 'user' as const, content: 'Summarise the contract' }],
};

interface Seen {
  json: string;
  servedBy: string | null;
  events: string[];
}

async function drive(url: string): Promise<Seen> {
  const client = new Anthropic({ baseURL: `${url}/anthropic`, apiKey: WORKER_KEY, maxRetries: 0 });
  const res = await client.messages.create({ ...body, metadata: { user_id: 'run' } }).asResponse();
  const events: string[] = [];
  for await (const event of await client.messages.create({ ...body, stream: true })) events.push(JSON.stringify(event));
  return { json: await res.text(), servedBy: res.headers.get('x-tollgate-served-by'), events };
}

describe('record and replay of Anthropic messages with the official SDK', () => {
  let standin: AnthropicStandin;
  let dir: string;
  let sidecar: TestTollgate | undefined;
  let recorded: Seen;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-anthropic-cassettes-'));
    standin = await startAnthropicStandin({ expectKey: KEY });
    sidecar = await startTestTollgate({
      ANTHROPIC_MODE: 'record',
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_UPSTREAM_URL: standin.url,
      CASSETTE_DIR: dir,
    });
    recorded = await drive(sidecar.url);
    await sidecar.close();
    sidecar = undefined;
    await standin.close();
  });
  after(async () => {
    await sidecar?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('recorded both answers from the provider, one file each, with no key in them', async () => {
    assert.equal(recorded.servedBy, 'real');
    // (The health probe's GET /v1/models arrives too.)
    assert.equal(standin.requests.filter((r) => r.path === '/v1/messages').length, 2);
    const files = (await readdir(dir)).sort();
    assert.equal(files.length, 2, files.join(', '));
    assert.ok(
      files.every((f) => /^anthropic_v1-messages_[0-9a-f]{24}\.json$/.test(f)),
      files.join(', '),
    );
    for (const file of files) {
      const text = await readFile(join(dir, file), 'utf8');
      assert.ok(!text.includes(KEY) && !text.includes(WORKER_KEY), `${file} holds a key`);
    }
  });

  it('replays them with the provider gone: the same body, id and stream events', async () => {
    sidecar = await startTestTollgate({ ANTHROPIC_MODE: 'replay', REPLAY_MISS: 'error', CASSETTE_DIR: dir });
    const replayed = await drive(sidecar.url);
    assert.equal(replayed.servedBy, 'replay');
    assert.equal(replayed.json, recorded.json);
    assert.equal(JSON.parse(replayed.json).id, 'msg_01standin');
    assert.deepEqual(replayed.events, recorded.events);
    assert.equal(sidecar.calls.at(-1)?.servedBy, 'replay');
  });
});
