/**
 * `npm run spec:update` (scripts/spec-update.mjs) against a stand-in source on loopback: it writes
 * the descriptions only when every one downloaded and checked, and a source that cannot be reached
 * fails the run with a message and leaves the existing copies alone. Also: where the suite looks.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { loadSpec, PROJECT_ROOT, SPEC_FILES } from './support/specs.js';

const SCRIPT = join(PROJECT_ROOT, 'scripts/spec-update.mjs');
const DOC = JSON.stringify({
  openapi: '3.1.0',
  info: { title: 'stand-in', version: '1' },
  components: { schemas: {} },
});

function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT], { env: { ...process.env, ...env }, cwd: PROJECT_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const listen = (server: Server) =>
  new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );

describe('npm run spec:update', () => {
  let dir: string;
  let server: Server;
  let base: string;
  /** Paths the stand-in refuses with 404. */
  const missing = new Set<string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-specs-'));
    server = createServer((req, res) => {
      const known = req.url?.includes('/openai/openai-openapi/') || req.url?.includes('/run-llama/LlamaIndexTS/');
      if (!known || [...missing].some((m) => req.url?.includes(m))) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(DOC);
    });
    base = await listen(server);
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const seedOldCopies = () => {
    for (const file of Object.values(SPEC_FILES)) writeFileSync(join(dir, file), 'old copy');
  };
  const copies = () => Object.values(SPEC_FILES).map((file) => readFileSync(join(dir, file)));

  it('fails with a message naming each source and leaves the copies alone when the sources cannot be reached', async () => {
    seedOldCopies();
    const closed = createServer();
    const unreachable = await listen(closed);
    await new Promise((r) => closed.close(r));
    const result = await run({ SPEC_DIR: dir, SPEC_SOURCE_BASE: unreachable, SPEC_UPDATE_TIMEOUT_MS: '5000' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /nothing was written/);
    assert.match(result.stderr, /could not reach .*openai-openapi.*ECONNREFUSED/);
    assert.match(result.stderr, /could not reach .*LlamaIndexTS.*ECONNREFUSED/);
    assert.deepEqual(copies().map(String), ['old copy', 'old copy']);
  });

  it('writes nothing when one source of two fails', async () => {
    seedOldCopies();
    missing.add('LlamaIndexTS');
    try {
      const result = await run({ SPEC_DIR: dir, SPEC_SOURCE_BASE: base });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /LlamaIndexTS.*answered 404/);
      assert.deepEqual(copies().map(String), ['old copy', 'old copy']);
    } finally {
      missing.clear();
    }
  });

  it('writes every description gzipped, where the suite then finds it', async () => {
    seedOldCopies();
    const result = await run({ SPEC_DIR: dir, SPEC_SOURCE_BASE: base });
    assert.equal(result.code, 0, result.stderr);
    for (const copy of copies()) assert.equal(gunzipSync(copy).toString(), DOC);
    const spec = loadSpec('openai', { SPEC_DIR: dir });
    assert.ok(spec.found && spec.doc.openapi === '3.1.0');
  });

  it('a missing description names every place the suite looked', () => {
    const empty = mkdtempSync(join(tmpdir(), 'tollgate-nospecs-'));
    try {
      const spec = loadSpec('llamacloud', { SPEC_DIR: empty });
      assert.equal(spec.found, false);
      assert.ok(!spec.found && spec.message.includes(join(empty, 'llamacloud-openapi.json.gz')));
      assert.ok(!spec.found && spec.message.includes('npm run spec:update'));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
