#!/usr/bin/env node
import { createHash } from 'node:crypto';
// Downloads the providers' published API descriptions the conformance suite reads (test/conformance/)
// from their public sources, at the pinned commits, into SPEC_DIR (default .specs/, ignored by git).
// Every description is fetched and checked first; only then is each written, to a temporary file
// renamed over the old copy. A source that cannot be reached fails the whole run with a message
// and leaves every existing copy as it was.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// The sources and versions of ../shared/specs/README.md; SPEC_SOURCE_BASE points them at a mirror.
const base = (process.env.SPEC_SOURCE_BASE || 'https://raw.githubusercontent.com').replace(/\/+$/, '');
const SOURCES = [
  {
    file: 'openai-openapi.json.gz',
    what: 'OpenAI API (openai/openai-openapi, openapi.json, 2026-08-21)',
    path: '/openai/openai-openapi/f85dbe223d40e1a31cba812ab2d755c7e98a92a3/openapi.json',
  },
  {
    file: 'llamacloud-openapi.json.gz',
    what: 'LlamaCloud (run-llama/LlamaIndexTS, packages/cloud/openapi.json, 2025-09)',
    path: '/run-llama/LlamaIndexTS/f648bb7b9022898cc19ed59959923113e7fe21ab/packages/cloud/openapi.json',
  },
];
const target = resolve(root, process.env.SPEC_DIR || '.specs');
const timeoutMs = Number(process.env.SPEC_UPDATE_TIMEOUT_MS || 30000);

function causeOf(error) {
  const cause = error?.cause ?? error;
  return [cause?.code, cause?.message ?? String(cause)].filter(Boolean).join(' ');
}

async function download(source) {
  const url = `${base}${source.path}`;
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new Error(`${source.what}: could not reach ${url} (${causeOf(error)})`);
  }
  if (!res.ok) throw new Error(`${source.what}: ${url} answered ${res.status} ${res.statusText}`);
  const text = await res.text();
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${source.what}: ${url} did not answer JSON`);
  }
  if (typeof doc?.openapi !== 'string' || typeof doc?.components?.schemas !== 'object') {
    throw new Error(`${source.what}: ${url} is not an OpenAPI document with component schemas`);
  }
  return { source, text, version: doc.openapi };
}

const results = await Promise.allSettled(SOURCES.map(download));
const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
if (failures.length > 0) {
  process.stderr.write(
    `spec:update failed; nothing was written, the copies in ${target} are as they were.\n` +
      failures.map((f) => `  - ${f}\n`).join('') +
      'On a machine without access to raw.githubusercontent.com, point SPEC_DIR at a folder that holds the ' +
      'descriptions (or SPEC_SOURCE_BASE at a mirror).\n',
  );
  process.exit(1);
}

mkdirSync(target, { recursive: true });
for (const { value } of results) {
  const path = join(target, value.source.file);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, gzipSync(value.text));
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    process.stderr.write(`spec:update: could not write ${path}: ${causeOf(error)}\n`);
    process.exit(1);
  }
  const sha = createHash('sha256').update(value.text).digest('hex').slice(0, 16);
  process.stdout.write(
    `${value.source.file}: ${value.source.what}, OpenAPI ${value.version}, sha256 ${sha}… → ${path}\n`,
  );
}
