import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import type { ConfigSource } from '../config/index.js';
import { maskedEnv } from '../config/index.js';
import { invalidJson, invalidRequest, notFound, TollgateError } from '../errors.js';
import { isMode, isProvider, type ModeState } from '../routing/mode.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer-token guard for /admin/*. Compares digests with timingSafeEqual, so the time taken
 * says nothing about the token. With no ADMIN_TOKEN configured the admin routes do not exist (404).
 */
export const adminAuth = ({ token }: { token: () => string | undefined }): MiddlewareHandler =>
  async function adminAuth(c, next) {
    const expected = token();
    if (expected === undefined) throw notFound(c.req.method, c.req.path);
    const header = c.req.header('authorization') ?? '';
    // The auth scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    const presented = /^bearer /i.test(header) ? header.slice(7) : '';
    if (!timingSafeEqual(digest(presented), digest(expected))) {
      throw new TollgateError(401, 'unauthorized', 'Missing or invalid admin token', {
        headers: { 'www-authenticate': 'Bearer realm="tollgate-admin"' },
      });
    }
    await next();
  };

export interface AdminDeps {
  config: ConfigSource;
  modes: ModeState;
  /** Extra admin routes mounted by later parts (costs, limits). */
  extend?: (app: Hono) => void;
}

export function adminRoutes({ config, modes, extend }: AdminDeps): Hono {
  const app = new Hono();
  app.use('*', adminAuth({ token: () => config.config.adminToken }));
  app.get('/mode', (c) => c.json(modes.snapshot()));
  app.put('/mode', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch (e) {
      throw invalidJson((e as Error).message);
    }
    if (typeof body !== 'object' || body === null) throw invalidRequest('Body must be a JSON object');
    const { mode, provider } = body as { mode?: unknown; provider?: unknown };
    if (!isMode(mode)) throw invalidRequest('mode must be one of mock, real, hybrid', 'mode');
    if (provider !== undefined && !isProvider(provider)) {
      throw invalidRequest('provider must be openai or llamaparse', 'provider');
    }
    const targets = provider === undefined ? (['openai', 'llamaparse'] as const) : [provider];
    for (const p of targets) {
      if (mode === 'real' && !config.config.providers[p].apiKey && !config.config.forwardClientAuth) {
        throw invalidRequest(`${p} has no API key configured; it cannot run in real mode`, 'mode');
      }
    }
    modes.set(mode, provider);
    return c.json(modes.snapshot());
  });
  app.get('/config', (c) => c.json({ env: maskedEnv(config.current.env), env_file: config.current.envFile ?? null }));
  extend?.(app);
  return app;
}
