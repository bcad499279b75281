import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { TollgateError } from '../errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Still `not_found` (the routes do not exist), but saying why and what turns them on. */
const adminOff = (method: string, path: string) =>
  new TollgateError(
    404,
    'not_found',
    `Invalid URL (${method} ${path}): the admin API is off. Set ADMIN_TOKEN (16 characters or more) to turn it on.`,
  );

/**
 * Bearer-token guard for /admin/*. Compares digests with timingSafeEqual, so the time taken
 * says nothing about the token. With no ADMIN_TOKEN configured the admin routes do not exist (404).
 */
export const adminAuth = ({ token }: { token: () => string | undefined }): MiddlewareHandler =>
  async function adminAuth(c, next) {
    const expected = token();
    if (expected === undefined) throw adminOff(c.req.method, c.req.path);
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
