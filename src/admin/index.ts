import { Hono } from 'hono';
import type { ConfigSource } from '../config/index.js';
import { maskedEnv } from '../config/index.js';
import type { Limiter } from '../limits/index.js';
import type { ModeState } from '../routing/index.js';
import type { Store } from '../state/index.js';
import { adminAuth } from './auth.js';
import { getCosts } from './costs.js';
import { getLimits } from './limits.js';
import { type AdminLog, putMode } from './mode.js';
import { postReload } from './reload.js';

export { adminAuth } from './auth.js';
export { type ReloadRequest, requestReload } from './reload.js';

export interface AdminDeps {
  config: ConfigSource;
  modes: ModeState;
  store: Store;
  limiter: Limiter;
  /** Where admin actions are logged (who, the old and the new value). */
  log: AdminLog;
}

/** /admin/*: the mode, a reload, the effective config (secrets masked), costs and limits, behind ADMIN_TOKEN. */
export function adminRoutes({ config, modes, store, limiter, log }: AdminDeps): Hono {
  const app = new Hono();
  app.use('*', adminAuth({ token: () => config.config.adminToken }));
  app.get('/mode', (c) => c.json(modes.snapshot()));
  app.put('/mode', putMode(config, modes, log));
  app.post('/reload', postReload(config));
  app.get('/config', (c) => c.json({ env: maskedEnv(config.current.env), env_file: config.current.envFile ?? null }));
  app.get('/costs', getCosts({ store, limiter, timeZone: () => config.config.budgets.timezone }));
  app.get('/limits', getLimits(limiter));
  return app;
}
