/**
 * Where the providers' published API descriptions are read from: `SPEC_DIR` when set, else
 * `../shared/specs` beside the project, else `.specs/` (what `npm run spec:update` downloads).
 * Never committed; a missing description skips its suite with the places looked in, and fails
 * it under `CI=true`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** The project root (this file is test/conformance/support/specs.ts). */
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

/** The descriptions the suites read, by the file names their sources are pinned under. */
export const SPEC_FILES = {
  openai: 'openai-openapi.json.gz',
  llamacloud: 'llamacloud-openapi.json.gz',
} as const;

export type SpecName = keyof typeof SPEC_FILES;

export type LoadedSpec =
  | { found: true; path: string; doc: Record<string, unknown> }
  | { found: false; message: string };

export function specDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.SPEC_DIR !== undefined && env.SPEC_DIR !== '') return [resolve(PROJECT_ROOT, env.SPEC_DIR)];
  return [resolve(PROJECT_ROOT, '../shared/specs'), join(PROJECT_ROOT, '.specs')];
}

/** The description as parsed JSON (gzipped or plain), or a message naming every path tried. */
export function loadSpec(name: SpecName, env: NodeJS.ProcessEnv = process.env): LoadedSpec {
  const file = SPEC_FILES[name];
  const tried: string[] = [];
  for (const dir of specDirs(env)) {
    for (const candidate of [join(dir, file), join(dir, file.replace(/\.gz$/, ''))]) {
      tried.push(candidate);
      if (!existsSync(candidate)) continue;
      const bytes = readFileSync(candidate);
      const text = candidate.endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
      return { found: true, path: candidate, doc: JSON.parse(text) as Record<string, unknown> };
    }
  }
  return {
    found: false,
    message:
      `The ${name} API description (${file}) was not found. Looked in: ${tried.join(', ')}. ` +
      'Set SPEC_DIR to a folder holding it, or run `npm run spec:update` to download it into .specs/.',
  };
}

const inCi = (env: NodeJS.ProcessEnv): boolean => env.CI === 'true' || env.CI === '1';

/**
 * A describe block that runs `body` with the description, or, when it is missing, says where it
 * looked: skipped locally, failed under CI=true (a check that silently skips is not a check).
 */
export function describeWithSpec(
  title: string,
  spec: LoadedSpec,
  body: (spec: LoadedSpec & { found: true }) => void,
  env: NodeJS.ProcessEnv = process.env,
): void {
  if (spec.found) {
    describe(title, () => body(spec));
    return;
  }
  process.stderr.write(`conformance: ${spec.message}\n`);
  if (inCi(env)) {
    describe(title, () => {
      it('finds the API description (CI=true: a missing description fails)', () => assert.fail(spec.message));
    });
    return;
  }
  describe(title, { skip: spec.message }, () => {});
}
