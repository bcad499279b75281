import { ConfigError, type ConfigInputs, loadConfig } from '../config/index.js';
import { Limiter } from '../limits/index.js';
import { createStore } from '../state/index.js';
import { costReport, formatReport, REPORT_WINDOWS, type ReportWindow } from './report.js';

/**
 * `tollgate costs [--window hour|day|month] [--json]`: the spend report from the configured state store
 * (the same ledger a running sidecar writes; sqlite and Redis can be read while it runs).
 */
export async function costsCommand(options: { window: string; json: boolean; inputs: ConfigInputs }): Promise<number> {
  if (!(REPORT_WINDOWS as readonly string[]).includes(options.window)) {
    process.stderr.write(`tollgate: --window must be one of ${REPORT_WINDOWS.join(', ')}\n`);
    return 2;
  }
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(options.inputs);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tollgate: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const config = loaded.config;
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
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return 0;
  } finally {
    await store.close();
  }
}
