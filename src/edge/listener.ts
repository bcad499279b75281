import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AppEnv } from '../app.js';
import { internalError, invalidRequest, type ProviderShape, TollgateError } from '../errors.js';
import type { ProxyRoute, RouteTable } from '../proxy/index.js';
import { pathOf, pathRefused, settleRequest } from './request.js';

export interface EdgeParts {
  /** The proxied routes, served straight on the Node request (no Request or Context is built). */
  routes: RouteTable<ProxyRoute>;
  /** Everything else: admin, health, metrics, unknown routes. */
  app: Hono<AppEnv>;
  shapeOf: (path: string) => ProviderShape;
  /** The Host header every request is given (the sidecar's own address). */
  host: string;
  log: { error(obj: object, msg: string): void };
}

/** Writes an error in the path's provider shape (an answer no route gave). */
function answerError(res: ServerResponse, error: TollgateError, shape: ProviderShape): void {
  const body = JSON.stringify(error.body(shape));
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...error.headers,
  });
  res.end(body);
}

/**
 * The one front door: every request, proxied or not, passes here. It settles the correlation id, the
 * Host header and the path guard once, then hands the request to its proxy route or to the app.
 */
export function edgeListener({ routes, app, shapeOf, host, log }: EdgeParts) {
  const toApp = getRequestListener(app.fetch, {
    autoCleanupIncoming: false,
    overrideGlobalObjects: false,
    // Requests the adapter refuses before the app sees them still get an error in a provider's shape.
    errorHandler: () =>
      new TollgateError(
        400,
        'invalid_request',
        'The request could not be parsed (method, target or headers)',
      ).getResponse(),
  });
  return function edge(req: IncomingMessage, res: ServerResponse): void {
    const id = settleRequest(req, host);
    res.setHeader('x-correlation-id', id);
    const path = pathOf(req.url as string);
    if (pathRefused(path)) {
      const refused = invalidRequest('The request path contains dot segments, encoded separators or empty segments');
      answerError(res, refused, shapeOf(path));
      return;
    }
    const matched = routes.match(req.method ?? 'GET', path);
    if (matched === undefined) return void toApp(req, res);
    matched.handler(req, res, matched.params).catch((err: unknown) => {
      log.error({ err, path }, 'unhandled error');
      if (res.headersSent) return void res.destroy();
      answerError(res, internalError(), shapeOf(path));
    });
  };
}
