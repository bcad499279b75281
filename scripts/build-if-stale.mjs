#!/usr/bin/env node
// `npm start`'s prestart: serve the compiled server as it is when dist/ is current (npm ci's
// prepare built it), and rebuild only when a source is newer than what was compiled from it.
// The rebuild is incremental (dist/.tsbuildinfo), so tsc emits only what changed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const STAMP = '.build-stamp';
const mtime = (path) => (existsSync(path) ? statSync(path).mtimeMs : -1);

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });

/** What `src/x.ts` compiles to (`dist/x.js`); assets (.lua, .json) keep their name. */
const outputOf = (root, file) => join(root, 'dist', relative(join(root, 'src'), file).replace(/\.ts$/, '.js'));

/**
 * The inputs newer than what was built from them: a source newer than its output (and than the
 * last build's stamp, since tsc leaves an unchanged output alone), or a build setting newer than the stamp.
 */
export function staleInputs(root) {
  const stamp = mtime(join(root, 'dist', STAMP));
  const sources = walk(join(root, 'src')).filter((f) => !f.endsWith('.test.ts') && !f.endsWith('.d.ts'));
  const stale = sources.filter((f) => mtime(f) > Math.max(mtime(outputOf(root, f)), stamp));
  const settings = ['tsconfig.json', 'scripts/copy-assets.mjs'].map((f) => join(root, f));
  const builtAt = Math.max(stamp, mtime(join(root, 'dist', 'cli.js')));
  return [...stale, ...settings.filter((f) => mtime(f) > builtAt)].map((f) => relative(root, f));
}

function build(root) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const steps = [
    [tsc, '-p', 'tsconfig.json', '--incremental', '--tsBuildInfoFile', 'dist/.tsbuildinfo'],
    [join(root, 'scripts', 'copy-assets.mjs')],
  ];
  for (const args of steps) {
    const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
  writeFileSync(join(root, 'dist', STAMP), `${new Date().toISOString()}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const stale = staleInputs(root);
  if (stale.length > 0) {
    const shown = stale.length > 3 ? `${stale.slice(0, 3).join(', ')} and ${stale.length - 3} more` : stale.join(', ');
    process.stderr.write(`tollgate: rebuilding dist/ (newer: ${shown})\n`);
    build(root);
  }
}
