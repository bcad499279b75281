// Temporary: CPU time per proxied call of two builds, alternated (robust to a busy machine).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';

const builds: Record<string, string> = JSON.parse(process.env.BUILDS ?? '{"before":"/work/wt-before/dist/cli.js","after":"/work/main/dist/cli.js"}');
const N = Number(process.env.N ?? 20000);
const cpuOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000; // ticks (10 ms) -> µs
};
async function waitReady(url: string) {
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(50);
  }
  throw new Error('not ready ' + url);
}
const standin = spawn(process.execPath, ['--import', 'tsx', 'bench/standin-server.ts'], { cwd: '/work/main', stdio: ['pipe', 'pipe', 'inherit'] });
const upPort: number = await new Promise((r) => standin.stdout!.on('data', (d) => { const m = /LISTENING (\d+)/.exec(String(d)); if (m) r(Number(m[1])); }));
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in five words.' }], max_tokens: 64 });
let port = 18900;
async function one(build: string, mode: string) {
  port += 1;
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), SERVICE_MODE: mode,
    OPENAI_API_KEY: 'sk-bench-0000000000000000', LLAMA_CLOUD_API_KEY: 'llx-bench-0000000000000000', OPENAI_UPSTREAM_URL: `http://127.0.0.1:${upPort}/v1`,
    LLAMAPARSE_UPSTREAM_URL: `http://127.0.0.1:${upPort}`, STATE_URL: 'memory:', BUDGET_DAILY_USD: '1000000', LOG_LEVEL: 'warn', ENV_FILE: '/dev/null',
    OPENAI_REQUESTS_PER_HOUR: '1000000000', OPENAI_TOKENS_PER_HOUR: '100000000000', OTEL_SDK_DISABLED: 'true' };
  const child = spawn(process.execPath, ['--import', builds[build]!.replace('cli.js', 'telemetry/register.js'), builds[build]!, 'serve'], { env, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(`${url}/readyz`);
  const opts = { url: `${url}/openai/v1/chat/completions`, method: 'POST' as const, headers: { 'content-type': 'application/json' }, body, connections: 16 };
  await autocannon({ ...opts, amount: 2000 });
  const c0 = cpuOf(child.pid!);
  const t0 = performance.now();
  const r = await autocannon({ ...opts, amount: N });
  const c1 = cpuOf(child.pid!);
  const wall = performance.now() - t0;
  child.kill('SIGKILL');
  return { build, mode, cpuUsPerCall: Math.round((c1 - c0) / N), reqPerS: Math.round((N / wall) * 1000), non2xx: r.non2xx };
}
const rows = [];
for (let round = 0; round < Number(process.env.ROUNDS ?? 2); round++)
  for (const mode of (process.env.MODES ?? 'real,mock').split(',')) for (const b of Object.keys(builds)) rows.push(await one(b, mode));
console.log(JSON.stringify(rows));
standin.kill();
process.exit(0);
