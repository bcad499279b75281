import type { ConfigInputs } from '../config/index.js';
import { Limiter } from '../limits/index.js';
import { createStore } from '../state/index.js';
import { costReport, formatReport, REPORT_WINDOWS, type ReportWindow } from './report.js';
import { configOrExit, unreplayedJson, unreplayedLine } from './spool-cli.js';

/**
 * `tollgate costs [--window hour|day|month] [--json]`: the spend report from the configured state store
 * (the same ledger a running sidecar writes; sqlite and Redis can be read while it runs).
 */
export async function costsCommand(options: { window: string; json: boolean; inputs: ConfigInputs }): Promise<number> {
  if (!(REPORT_WINDOWS as readonly string[]).includes(options.window)) {
    process.stderr.write(`tollgate: --window must be one of ${REPORT_WINDOWS.join(', ')}\n`);
    return 2;
  }
  const config = configOrExit(options.inputs);
  if (typeof config === 'number') return config;
  if (config.stateUrl === 'memory:') {
    process.stderr.write(
      'tollgate: STATE_URL=memory: keeps the ledger inside the running sidecar; ask it with GET /admin/costs\n',
    );
    return 1;
  }
  const store = await createStore(config.stateUrl, {
    spoolDir: config.stateSpoolDir,
    timeoutMs: config.stateTimeoutMs,
  });
  try {
    await store.open();
    const limiter = new Limiter({ store, config: () => config });
    const report = await costReport({
      store,
      limiter,
      window: options.window as ReportWindow,
      timeZone: config.budgets.timezone,
    });
    // Rows still in a Redis store's local spool are in no ledger yet: said under the report.
    const spooled = store.spooled?.();
    if (options.json) {
      const unreplayed = spooled === undefined ? {} : { unreplayed: unreplayedJson(spooled) };
      process.stdout.write(`${JSON.stringify({ ...report, ...unreplayed }, null, 2)}\n`);
    } else {
      process.stdout.write(`${formatReport(report)}${spooled === undefined ? '' : `\n${unreplayedLine(spooled)}`}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
