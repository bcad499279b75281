/**
 * A copy of a TypeScript entry point that another user can run: bundled (esbuild, the bundler tsx
 * itself runs on) into a world-readable folder under /tmp with the native packages it needs, so a
 * child started as an unprivileged uid loads nothing from the checkout. The checkout may sit in a
 * private directory (a clone under /root, a `mktemp -d` folder) that such a user cannot enter.
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** A package's folder, as Node resolves it from `from`. */
const packageDir = (name: string, from: string) => dirname(createRequire(from).resolve(`${name}/package.json`));

/** What better-sqlite3 needs at run time: its JavaScript, its compiled addon, and `bindings`. */
function copyBetterSqlite(modules: string): void {
  const sqlite = packageDir('better-sqlite3', import.meta.url);
  const into = join(modules, 'better-sqlite3');
  cpSync(join(sqlite, 'package.json'), join(into, 'package.json'));
  cpSync(join(sqlite, 'lib'), join(into, 'lib'), { recursive: true, dereference: true });
  const addon = join('build', 'Release', 'better_sqlite3.node');
  mkdirSync(dirname(join(into, addon)), { recursive: true });
  cpSync(join(sqlite, addon), join(into, addon));
  const bindings = packageDir('bindings', join(sqlite, 'package.json'));
  cpSync(bindings, join(modules, 'bindings'), { recursive: true, dereference: true });
  const uriToPath = packageDir('file-uri-to-path', join(bindings, 'package.json'));
  cpSync(uriToPath, join(modules, 'file-uri-to-path'), { recursive: true, dereference: true });
}

/** Every folder traversable and every file readable by anyone (mkdtemp makes 0700, cp keeps modes). */
function openUp(path: string): void {
  const st = statSync(path);
  chmodSync(path, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const name of readdirSync(path)) openUp(join(path, name));
}

export interface Portable {
  /** The bundled script: run it with `node <script>` as any user. */
  script: string;
  dir: string;
  remove(): void;
}

/** Bundles `entry` (a .ts file) with better-sqlite3 left external and copied beside it. */
export async function portableScript(entry: string | URL): Promise<Portable> {
  const esbuild = (await import(require.resolve('esbuild', { paths: [dirname(require.resolve('tsx'))] }))) as {
    build(options: Record<string, unknown>): Promise<unknown>;
  };
  const dir = mkdtempSync('/tmp/tollgate-portable-');
  const script = join(dir, 'main.mjs');
  await esbuild.build({
    entryPoints: [typeof entry === 'string' ? entry : fileURLToPath(entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: script,
    external: ['better-sqlite3'],
    logLevel: 'silent',
  });
  copyBetterSqlite(join(dir, 'node_modules'));
  openUp(dir);
  return { script, dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
