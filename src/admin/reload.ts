import type { Context } from 'hono';
import type { ConfigSource } from '../config/index.js';
import { adminActor } from './mode.js';

/**
 * POST /admin/reload: reload the configuration now, as SIGHUP does (`tollgate reload` uses it when
 * there is no pid file). Answers whether new settings took effect; a rejected reload keeps the old.
 */
export function postReload(config: ConfigSource) {
  return function postReload(c: Context) {
    const { by, remote_address } = adminActor(c);
    const changed = config.forceReload(remote_address === undefined ? by : `${by} (${remote_address})`);
    return c.json({ reloaded: true, changed });
  };
}

/** What `tollgate reload` did, or why it could not. */
export interface ReloadRequest {
  ok: boolean;
  message: string;
}

const localHost = (host: string) => {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]` : h;
};

/** Asks the running sidecar over the admin API (no pid file, ADMIN_TOKEN set). */
async function overHttp(host: string, port: number, token: string): Promise<ReloadRequest> {
  const url = `http://${localHost(host)}:${port}/admin/reload`;
  try {
    const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.ok
      ? { ok: true, message: `reload requested over ${url}` }
      : { ok: false, message: `${url} answered ${res.status}` };
  } catch (e) {
    return { ok: false, message: `cannot reach ${url}: ${(e as Error).message}` };
  }
}

/**
 * `tollgate reload`: SIGHUP to the pid the pid file names (the server's own pid, not npm's), else
 * POST /admin/reload when ADMIN_TOKEN is set.
 */
export async function requestReload(target: {
  pidFile: string;
  pid: number | undefined;
  host: string;
  port: number;
  adminToken: string | undefined;
  signal?: (pid: number) => void;
}): Promise<ReloadRequest> {
  const { pidFile, pid, adminToken, signal = (p) => process.kill(p, 'SIGHUP') } = target;
  let why = `no pid file at ${pidFile}`;
  if (pid !== undefined) {
    try {
      signal(pid);
      return { ok: true, message: `sent SIGHUP to pid ${pid} (${pidFile})` };
    } catch (e) {
      why = `${pidFile} names pid ${pid}, which cannot be signalled (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  }
  if (adminToken !== undefined) return overHttp(target.host, target.port, adminToken);
  return { ok: false, message: `${why}, and no ADMIN_TOKEN to ask over the admin API; is tollgate serving here?` };
}
