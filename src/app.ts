import { randomUUID } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { type AdminDeps, adminRoutes } from './admin/index.js';
import { internalError, invalidRequest, notFound, type ProviderShape, TollgateError } from './errors.js';
import { type HealthDeps, healthRoutes } from './health/index.js';
import type { ProviderAdapter } from './providers/adapter.js';
import { type ProxyDeps, type ProxyEnv, type ProxyRoute, proxyHandler } from './proxy/handler.js';
import { RouteTable } from './proxy/routes.js';

/** A worker's correlation id is used as given when it is ≤128 of [A-Za-z0-9._:-] (contract section 4). */
export const VALID_CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Accepts the worker's correlation id when it is valid (≤128 of [A-Za-z0-9._:-]), else makes one.
 * @example app.use(correlationId())
 */
export const correlationId = ({
  header = 'x-correlation-id',
  generate = randomUUID,
} = {}): MiddlewareHandler<ProxyEnv> =>
  async function correlationId(c, next) {
    const given = c.env.incoming.headers[header];
    const id = typeof given === 'string' && VALID_CORRELATION_ID.test(given) ? given : generate();
    c.set('correlationId', id);
    await next();
  };

/** Dot segments, encoded slashes/dots and backslashes never reach routing or an upstream. */
const PATH_TRICK = /(?:^|\/)\.\.?(?:\/|$)|%2e|%2f|%5c|\\|%00/i;

/** Whether a raw path is refused by the path guard (the proxy's fast path asks before routing). */
export const pathRefused = (path: string): boolean => PATH_TRICK.test(path) || path.includes('//');

export const pathGuard = (): MiddlewareHandler<ProxyEnv> =>
  async function pathGuard(c, next) {
    const raw = c.env.incoming.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    if (pathRefused(path)) {
      throw invalidRequest('The request path contains dot segments, encoded separators or empty segments');
    }
    await next();
  };

const PASSTHROUGH = {
  operation: 'passthrough',
  method: '*',
  pattern: '/*',
  body: 'stream',
  metered: false,
} as const;

/** Every provider's routes and pass-through as one table of proxy handlers. */
export function proxyRoutes(deps: ProxyDeps, providers: readonly ProviderAdapter[]): RouteTable<ProxyRoute> {
  const table = new RouteTable<ProxyRoute>();
  for (const adapter of providers) {
    table.addAdapter(adapter, (route, path) => proxyHandler(deps, adapter, route, path), PASSTHROUGH);
  }
  return table;
}

const shapeOf = (path: string): ProviderShape => (path.startsWith('/llamaparse') ? 'llamaparse' : 'openai');

export interface AppDeps {
  admin: AdminDeps;
  health: HealthDeps;
  /** Prometheus text for GET /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  log: { error(obj: object, msg: string): void };
}

/**
 * Builds the Hono app from already-built parts (testable without a socket): admin, health, metrics,
 * and the provider-shaped answers for what the proxy's route table (proxyRoutes, served first by
 * server.ts) leaves: refused paths and unknown routes.
 */
export function createApp(deps: AppDeps): Hono<ProxyEnv> {
  const app = new Hono<ProxyEnv>();
  app.use('*', correlationId());
  app.use('*', pathGuard());

  app.route('/', healthRoutes(deps.health));
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', async (c) => {
      const m = await metrics();
      return c.body(m.body, 200, { 'content-type': m.contentType });
    });
  }
  app.route('/admin', adminRoutes(deps.admin));

  app.notFound((c) => {
    const res = notFound(c.req.method, c.req.path).getResponse(shapeOf(c.req.path));
    res.headers.set('x-correlation-id', c.get('correlationId'));
    return res;
  });
  app.onError((err, c) => {
    const shape = shapeOf(c.req.path);
    const headers = { 'x-correlation-id': c.get('correlationId') ?? '' };
    if (err instanceof TollgateError) {
      const res = err.getResponse(shape);
      for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
      return res;
    }
    deps.log.error({ err, path: c.req.path }, 'unhandled error');
    const res = internalError().getResponse(shape);
    for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
    return res;
  });
  return app;
}
