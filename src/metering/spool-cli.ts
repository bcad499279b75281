/**
 * `tollgate spool list|replay|export`: the ledger rows a Redis store spooled to `STATE_SPOOL_DIR`
 * while Redis was out of reach, per store they belong to (server, database, key prefix).
 */
import { parseArgs } from 'node:util';
import { type Config, ConfigError, type ConfigInputs, loadConfig } from '../config/index.js';
import { createStore, redisSpool, type SpooledRows } from '../state/index.js';

const USAGE = `Usage:
  tollgate spool list [--json]                 unreplayed rows per store: rows, first/last time, cost
  tollgate spool replay [--store redis://host:port/db] [--prefix tollgate:] [--include-old] [--force]
                                               replay the rows of that store (default STATE_URL) into it;
                                               --include-old (with --store): the old spool file's rows too
  tollgate spool export [--format jsonl]       every unreplayed row, one JSON line each, to stdout
`;

/** The configuration, or the exit code after saying why there is none. */
export function configOrExit(inputs: ConfigInputs): Config | number {
  try {
    return loadConfig(inputs).config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tollgate: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

const usd = (nano: number) => Math.round(nano) / 1e9;
const iso = (t: number) => new Date(t).toISOString();
const label = (s: SpooledRows) =>
  `${s.store ?? 'unknown store'} prefix ${s.prefix}${s.oldFile === undefined ? '' : ` (old spool file ${s.oldFile})`}`;

/** The `unreplayed` field of `tollgate costs --json`. */
export function unreplayedJson(spooled: readonly SpooledRows[]) {
  return {
    rows: spooled.reduce((n, s) => n + s.rows, 0),
    cost_usd: usd(spooled.reduce((n, s) => n + s.costNanoUsd, 0)),
    stores: spooled.map((s) => ({
      store: s.store,
      prefix: s.prefix,
      ...(s.oldFile === undefined ? {} : { old_file: s.oldFile }),
      rows: s.rows,
      cost_usd: usd(s.costNanoUsd),
      first_ts: iso(s.firstTs),
      last_ts: iso(s.lastTs),
    })),
  };
}

/** The line under `tollgate costs`. */
export function unreplayedLine(spooled: readonly SpooledRows[]): string {
  if (spooled.length === 0) return 'No unreplayed spooled ledger rows.\n';
  const j = unreplayedJson(spooled);
  const each = spooled.map((s) => `${label(s)}: ${s.rows} rows, $${usd(s.costNanoUsd)}`).join('; ');
  return `Unreplayed spooled ledger rows (not in the report above): ${j.rows}, $${j.cost_usd} — ${each}. See \`tollgate spool list\`.\n`;
}

export async function spoolCommand(args: string[], inputs: ConfigInputs): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = configOrExit(inputs);
  if (typeof config === 'number') return config;
  const dir = config.stateSpoolDir;
  switch (sub) {
    case 'list':
      return list(dir, rest);
    case 'replay':
      return replay(config, rest);
    case 'export':
      return exportRows(dir, rest);
    default:
      process.stderr.write(`tollgate: spool needs list, replay or export\n${USAGE}`);
      return 2;
  }
}

async function list(dir: string, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  const { spooledRows } = await redisSpool();
  const spooled = await spooledRows(dir);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ dir, ...unreplayedJson(spooled) }, null, 2)}\n`);
    return 0;
  }
  if (spooled.length === 0) {
    process.stdout.write(`No unreplayed ledger rows in ${dir}.\n`);
    return 0;
  }
  const lines = spooled.map(
    (s) => `${label(s)}\n  ${s.rows} rows, $${usd(s.costNanoUsd)}, ${iso(s.firstTs)} → ${iso(s.lastTs)}`,
  );
  process.stdout.write(`Unreplayed ledger rows in ${dir}:\n${lines.join('\n')}\n`);
  return 0;
}

async function exportRows(dir: string, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { format: { type: 'string', default: 'jsonl' } } });
  if (values.format !== 'jsonl') {
    process.stderr.write(`tollgate: --format must be jsonl\n`);
    return 2;
  }
  const { readSpoolFolder } = await redisSpool();
  for (const { lines } of await readSpoolFolder(dir, (_o, m) => process.stderr.write(`tollgate: ${m}\n`))) {
    const text = lines.map((l) => `${JSON.stringify({ store: l.store ?? null, row: l.row, spend: l.spend })}\n`);
    process.stdout.write(text.join(''));
  }
  return 0;
}

/**
 * Replays into one store the rows spooled for it, as a sidecar of that store would at start:
 * files whose writer is gone, claimed first. With `--include-old` and an explicit `--store`, the old
 * spool file of the prefix too (its rows do not name their store: the operator does).
 */
async function replay(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      store: { type: 'string' },
      prefix: { type: 'string', default: 'tollgate:' },
      'include-old': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
    },
  });
  const includeOld = values['include-old'] === true;
  if (includeOld && values.store === undefined) {
    process.stderr.write(
      'tollgate: --include-old needs --store: the old spool file does not say which store its rows are for\n',
    );
    return 2;
  }
  const target = values.store ?? config.stateUrl;
  const prefix = values.prefix ?? 'tollgate:';
  const spool = await redisSpool();
  let wanted: string;
  try {
    wanted = spool.storeAddress(spool.storeIdentity(target, prefix));
  } catch (e) {
    process.stderr.write(
      `tollgate: spool replay needs a redis:// store (--store or STATE_URL): ${(e as Error).message}\n`,
    );
    return 2;
  }
  const mine = (s: SpooledRows) =>
    (s.store === wanted && s.prefix === prefix) || (includeOld && s.store === null && s.prefix === legacy(prefix));
  const before = await spool.spooledRows(config.stateSpoolDir);
  if (!before.some(mine)) {
    const held = before.map((s) => `  ${label(s)}: ${s.rows} rows`).join('\n');
    process.stderr.write(
      `tollgate: no spooled rows belong to ${wanted} prefix ${prefix}; refusing to replay another store's rows into it.\n` +
        (held === '' ? `The spool folder ${config.stateSpoolDir} is empty.\n` : `The spool folder holds:\n${held}\n`),
    );
    return 2;
  }
  const store = await createStore(connectionUrl(target, config.stateUrl, prefix, spool), {
    spoolDir: config.stateSpoolDir,
    keyPrefix: prefix,
    adoptLegacySpool: includeOld,
    claimForeignSpool: values.force ?? false,
  });
  try {
    await store.open();
    const health = store.health();
    if (health.degraded === true) {
      process.stderr.write(`tollgate: ${health.output}; the rows stay in the spool\n`);
      return 1;
    }
  } finally {
    await store.close();
  }
  const count = (list: readonly SpooledRows[]) => list.filter(mine).reduce((n, s) => n + s.rows, 0);
  const left = count(await spool.spooledRows(config.stateSpoolDir));
  process.stdout.write(
    `replayed ${count(before) - left} spooled rows into ${wanted} prefix ${prefix}` +
      (left === 0
        ? '\n'
        : `; ${left} rows are still held by live sidecars (they replay them) — --force takes other hosts' files\n`),
  );
  return 0;
}

/** The old single file's prefix as `spooledRows` shows it. */
const legacy = (prefix: string) => prefix.replace(/[^A-Za-z0-9_-]/g, '_');

/** `--store` names a store by address; STATE_URL's credentials are used when it names the same one. */
function connectionUrl(
  target: string,
  stateUrl: string,
  prefix: string,
  spool: Awaited<ReturnType<typeof redisSpool>>,
): string {
  try {
    if (spool.sameIdentity(spool.storeIdentity(stateUrl, prefix), spool.storeIdentity(target, prefix))) return stateUrl;
  } catch {
    // STATE_URL is not Redis.
  }
  return target;
}
