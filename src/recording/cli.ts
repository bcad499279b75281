import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, type ConfigInputs, loadConfig } from '../config/index.js';
import { type CassetteEntry, CassetteStore, type PruneRule } from './store.js';

export const CASSETTES_USAGE = `Usage: tollgate cassettes <list|show|prune> [options]   (recordings in CASSETTE_DIR)

  list [--provider P] [--json]           every recording: file, provider, request, status, recorded, last used
  show <file>                            one recording's JSON
  prune [--older-than AGE] [--unused-since AGE] [--provider P] [--dry-run]
                                         remove recordings matching every option given (AGE: 30d, 12h, 45m,
                                         or a date such as 2026-11-01); at least one option is needed
`;

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/** An age (`30d`, `12h`) or a date, as the instant it names (epoch ms); undefined when it is neither. */
export function instantOf(value: string, now: number): number | undefined {
  const m = /^(\d+)([dhms])$/.exec(value.trim());
  if (m) return now - Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

const line = (e: CassetteEntry) =>
  `${e.file}  ${e.provider} ${e.method} ${e.path} → ${e.status}  recorded ${e.recordedAt}  used ${e.lastUsedAt}`;

function storeOrExit(inputs: ConfigInputs): CassetteStore | number {
  try {
    return new CassetteStore(resolve(inputs.cwd, loadConfig(inputs).config.cassettes.dir));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`tollgate: ${e.message}\n`);
    return 2;
  }
}

async function prune(store: CassetteStore, args: string[], now: number): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'older-than': { type: 'string' },
      'unused-since': { type: 'string' },
      provider: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const rule: PruneRule = { provider: values.provider };
  for (const [option, field] of [
    ['older-than', 'recordedBefore'],
    ['unused-since', 'unusedSince'],
  ] as const) {
    const given = values[option];
    if (given === undefined) continue;
    const at = instantOf(given, now);
    if (at === undefined) {
      process.stderr.write(`tollgate: --${option} must be an age (30d, 12h, 45m) or a date, got ${given}\n`);
      return 2;
    }
    rule[field] = at;
  }
  if (rule.provider === undefined && rule.recordedBefore === undefined && rule.unusedSince === undefined) {
    process.stderr.write(`tollgate: prune needs --older-than, --unused-since or --provider\n${CASSETTES_USAGE}`);
    return 2;
  }
  const gone = await store.prune(rule, values['dry-run']);
  const verb = values['dry-run'] ? 'would remove' : 'removed';
  process.stdout.write(`${gone.map((e) => `${verb} ${e.file}\n`).join('')}${verb} ${gone.length} recording(s)\n`);
  return 0;
}

/** `tollgate cassettes list|show|prune`: the recordings in CASSETTE_DIR. */
export async function cassettesCommand(argv: string[], inputs: ConfigInputs, now = Date.now()): Promise<number> {
  const [sub, ...args] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help') {
    process.stdout.write(CASSETTES_USAGE);
    return sub === undefined ? 2 : 0;
  }
  const store = storeOrExit(inputs);
  if (typeof store === 'number') return store;
  if (sub === 'list') {
    const { values } = parseArgs({
      args,
      options: { provider: { type: 'string' }, json: { type: 'boolean', default: false } },
    });
    const all = (await store.list()).filter((e) => values.provider === undefined || e.provider === values.provider);
    if (values.json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
    else process.stdout.write(`${all.map((e) => `${line(e)}\n`).join('')}${all.length} recording(s) in ${store.dir}\n`);
    return 0;
  }
  if (sub === 'show') {
    const text = args[0] === undefined ? undefined : await store.show(args[0]);
    if (text === undefined) {
      process.stderr.write(`tollgate: no recording ${args[0] ?? '(none named)'} in ${store.dir}\n`);
      return 1;
    }
    process.stdout.write(text);
    return 0;
  }
  if (sub === 'prune') return prune(store, args, now);
  process.stderr.write(`tollgate: unknown cassettes command '${sub}'\n${CASSETTES_USAGE}`);
  return 2;
}
