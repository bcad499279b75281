import type { ProviderShape } from '../errors.js';
import type { ProviderAdapter } from '../providers/index.js';

/**
 * The error shape for a path: the shape of the provider whose prefix it is under, else OpenAI's (the
 * sidecar's own routes answer like OpenAI). Chosen here once for every answer the edge or the app gives.
 */
export function shapeFor(providers: readonly ProviderAdapter[]): (path: string) => ProviderShape {
  const prefixes = providers.map((a) => ({ root: `/${a.prefix.split('/')[1]}`, shape: a.errorShape }));
  return function shapeOf(path) {
    for (const p of prefixes) {
      if (path === p.root || path.startsWith(`${p.root}/`) || path.startsWith(`${p.root}?`)) return p.shape;
    }
    return 'openai';
  };
}
