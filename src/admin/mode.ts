import type { Context } from 'hono';
import type { ConfigSource } from '../config/index.js';
import { needsKey, PROVIDERS } from '../config/index.js';
import { invalidJson, invalidRequest } from '../errors.js';
import { isMode, isProvider, type ModeState } from '../routing/index.js';

/** PUT /admin/mode: `{ mode, provider? }` switches one provider, or all of them and the default. */
export function putMode(config: ConfigSource, modes: ModeState) {
  return async function putMode(c: Context) {
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
      throw invalidRequest(`provider must be ${PROVIDERS.join(' or ')}`, 'provider');
    }
    for (const p of provider === undefined ? PROVIDERS : [provider]) {
      if (needsKey(config.config, p, mode)) {
        throw invalidRequest(`${p} has no API key configured; it cannot run in real mode`, 'mode');
      }
    }
    modes.set(mode, provider);
    return c.json(modes.snapshot());
  };
}
