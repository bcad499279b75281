#!/usr/bin/env node
// The package's bin: runs the compiled CLI (npm ci builds it through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('tollgate: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(cli);
