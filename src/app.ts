import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import { type AdminDeps, adminRoutes } from './admin/index.js';
import { internalError, notFound, type ProviderShape, TollgateError } from './errors.js';
import { type HealthDeps, healthRoutes } from './health/index.js';

export type AppEnv = {
  Bindings: { incoming: IncomingMessage; outgoing: ServerResponse };
};

export interface AppDeps {
  admin: AdminDeps;
  health: HealthDeps;
  /** Prometheus text for GET /metrics. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  shapeOf: (path: string) => ProviderShape;
  log: { error(obj: object, msg: string): void };
}

/** The correlation id the edge settled on the request. */
const correlationOf = (incoming: IncomingMessage | undefined): string =>
  (incoming?.headers['x-correlation-id'] as string | undefined) ?? '';

/**
 * Builds the Hono app from already-built parts (testable without a socket): admin, health, metrics, and
 * the provider-shaped answers for what the proxy's routes leave (unknown routes). The edge in front of
 * it has settled the correlation id and refused tricky paths.
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.route('/', healthRoutes(deps.health));
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', async (c) => {
      const m = await metrics();
      return c.body(m.body, 200, { 'content-type': m.contentType });
    });
  }
  app.route('/admin', adminRoutes(deps.admin));

  const render = (err: TollgateError, path: string, incoming: IncomingMessage | undefined) => {
    const res = err.getResponse(deps.shapeOf(path));
    res.headers.set('x-correlation-id', correlationOf(incoming));
    return res;
  };
  app.notFound((c) => render(notFound(c.req.method, c.req.path), c.req.path, c.env?.incoming));
  app.onError((err, c) => {
    if (err instanceof TollgateError) return render(err, c.req.path, c.env?.incoming);
    deps.log.error({ err, path: c.req.path }, 'unhandled error');
    return render(internalError(), c.req.path, c.env?.incoming);
  });
  return app;
}
