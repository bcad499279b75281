import type { ProviderAdapter, RouteSpec } from '../providers/index.js';

/**
 * The proxied routes as one precomputed table, matched on the raw request target: the proxy's hot
 * path never builds a Request, a Context or a router match object. Static paths are one Map lookup
 * (no static path of an adapter is also matched by one of its patterns); patterns with parameters are
 * compiled once and the first registered wins, as in the adapters' tables ("most specific first").
 * Anything else under a provider's prefix is its pass-through.
 */
export interface Matched<H> {
  handler: H;
  params: Record<string, string>;
}

interface Compiled<H> {
  method: string;
  regex: RegExp;
  names: string[];
  handler: H;
}

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export class RouteTable<H> {
  readonly #static = new Map<string, H>();
  readonly #patterns: Compiled<H>[] = [];
  readonly #passthrough: { prefix: string; handler: H }[] = [];

  /** Adds one route; `path` is the full public pattern (`/openai/v1/models/:model`). */
  add(method: string, path: string, handler: H): void {
    if (!path.includes(':')) {
      const key = `${method} ${path}`;
      if (!this.#static.has(key)) this.#static.set(key, handler);
      return;
    }
    const names: string[] = [];
    const source = path
      .split('/')
      .map((part) => {
        if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(part.slice(1));
        return '([^/]+)';
      })
      .join('/');
    this.#patterns.push({ method, regex: new RegExp(`^${source}$`), names, handler });
  }

  /** Everything under `prefix/` (any method) that no route claimed. */
  addPassthrough(prefix: string, handler: H): void {
    this.#passthrough.push({ prefix: `${prefix}/`, handler });
  }

  /** Adds an adapter's routes and its pass-through, building each handler with `make`. */
  addAdapter(adapter: ProviderAdapter, make: (route: RouteSpec, template: string) => H, passthrough: RouteSpec): void {
    for (const route of adapter.routes) {
      const path = adapter.prefix + route.pattern;
      this.add(route.method, path, make(route, path));
    }
    this.addPassthrough(adapter.prefix, make(passthrough, `${adapter.prefix}/*`));
  }

  /** The handler for a method and a raw path (no query), or undefined. */
  match(method: string, path: string): Matched<H> | undefined {
    const exact = this.#static.get(`${method} ${path}`);
    if (exact !== undefined) return { handler: exact, params: NO_PARAMS };
    for (const p of this.#patterns) {
      if (p.method !== method) continue;
      const m = p.regex.exec(path);
      if (m === null) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < p.names.length; i++) {
        const raw = m[i + 1] as string;
        if (!raw.includes('%')) {
          params[p.names[i] as string] = raw;
          continue;
        }
        try {
          params[p.names[i] as string] = decodeURIComponent(raw);
        } catch {
          ok = false; // a malformed %-escape matches no route
          break;
        }
      }
      if (ok) return { handler: p.handler, params };
    }
    for (const t of this.#passthrough) {
      if (path.startsWith(t.prefix)) return { handler: t.handler, params: NO_PARAMS };
    }
    return undefined;
  }
}
