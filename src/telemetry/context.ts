import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, type ContextManager, ROOT_CONTEXT } from '@opentelemetry/api';

/** `target` run under `context` whenever it is called (ContextManager.bind, the same for both managers). */
function bound<T>(manager: ContextManager, context: Context, target: T): T {
  if (typeof target !== 'function') return target;
  const fn = target as unknown as (...args: unknown[]) => unknown;
  return ((...args: unknown[]) => manager.with(context, () => fn(...args))) as unknown as T;
}

/**
 * Context for synchronous scopes only (what the SDK's exporter needs to suppress its own tracing):
 * no async hooks, so a promise costs nothing extra.
 */
export class SyncContextManager implements ContextManager {
  #current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.#current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.#current;
    this.#current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#current = previous;
    }
  }
  bind<T>(context: Context, target: T): T {
    return bound(this, context, target);
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#current = ROOT_CONTEXT;
    return this;
  }
}

/**
 * Async context for when an instrumentation must find the call it runs under (the `ioredis`
 * instrumentation: a store command's span under its call's span). The proxy passes parents by hand,
 * so it only needs `enter`: the call's context for the rest of the request's async path, from where
 * its spans start. AsyncLocalStorage puts a hook on every promise, which is why it is not the default
 * (docs/performance.md).
 */
export class AsyncContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(context, () => fn.call(thisArg, ...args));
  }
  bind<T>(context: Context, target: T): T {
    return bound(this, context, target);
  }
  /** Makes `context` the active one for the rest of the current async path (the request's). */
  enter(context: Context): void {
    this.#storage.enterWith(context);
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}
