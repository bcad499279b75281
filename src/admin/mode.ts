import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { ConfigSource } from '../config/index.js';
import { MODE_LIST, needsKey, PROVIDERS } from '../config/index.js';
import { invalidJson, invalidRequest } from '../errors.js';
import { isMode, isProvider, type ModeState } from '../routing/index.js';

/** Where an admin action's log line goes. */
export interface AdminLog {
  info(obj: object, msg: string): void;
}

/** Who asked: the admin API, and the caller's address when the server knows it. */
export function adminActor(c: Context): { by: 'admin api'; remote_address?: string } {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const remote = incoming?.socket?.remoteAddress;
  return remote === undefined ? { by: 'admin api' } : { by: 'admin api', remote_address: remote };
}

/** PUT /admin/mode: `{ mode, provider? }` switches one provider, or all of them and the default. */
export function putMode(config: ConfigSource, modes: ModeState, log: AdminLog) {
  return async function putMode(c: Context) {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch (e) {
      throw invalidJson((e as Error).message);
    }
    if (typeof body !== 'object' || body === null) throw invalidRequest('Body must be a JSON object');
    const { mode, provider } = body as { mode?: unknown; provider?: unknown };
    if (!isMode(mode)) throw invalidRequest(`mode must be one of ${MODE_LIST}`, 'mode');
    if (provider !== undefined && !isProvider(provider)) {
      throw invalidRequest(`provider must be ${PROVIDERS.join(' or ')}`, 'provider');
    }
    for (const p of provider === undefined ? PROVIDERS : [provider]) {
      if (needsKey(config.config, p, mode)) {
        throw invalidRequest(`${p} has no API key configured; it cannot run in ${mode} mode`, 'mode');
      }
    }
    const before = modes.snapshot();
    modes.set(mode, provider);
    const after = modes.snapshot();
    log.info(
      { ...adminActor(c), provider: provider ?? 'all', from: before, to: after },
      `mode set to ${mode} for ${provider ?? 'every provider'}`,
    );
    return c.json(after);
  };
}
