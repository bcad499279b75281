/**
 * Run in a child process by hostile-input.test.ts: sends LlamaParse uploads cut off inside a file
 * part to a MOCK sidecar and prints, as one JSON line, the statuses and any uncaught exception
 * (which under node:test would fail the whole file instead of the one test).
 */
import { startTestTollgate } from '../support/tollgate.js';
import { send } from './support.js';

const uncaught: string[] = [];
process.on('uncaughtException', (e) => uncaught.push(e.message));

const tg = await startTestTollgate({ SERVICE_MODE: 'mock', LOG_LEVEL: 'fatal' });
const statuses: number[] = [];
for (const name of ['file', 'not_a_file_field']) {
  const body = `--B\r\nContent-Disposition: form-data; name="${name}"; filename="a.md"\r\nContent-Type: text/markdown\r\n\r\n# cut`;
  const a = await send(`${tg.url}/llamaparse/api/v1/parsing/upload`, {
    body,
    headers: { 'content-type': 'multipart/form-data; boundary=B' },
  });
  statuses.push(a.status);
}
await new Promise((resolve) => setTimeout(resolve, 100));
await tg.close();
process.stdout.write(`${JSON.stringify({ statuses, uncaught })}\n`);
