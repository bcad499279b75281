#!/usr/bin/env node
// The package's bin: runs the compiled CLI (npm ci builds it through the prepare script).
// For `serve`, OpenTelemetry is registered first, before any app module loads.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('tollgate: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
const command = process.argv[2];
if (command === undefined || command === 'serve') await import('../dist/telemetry/register.js');
await import(cli);
