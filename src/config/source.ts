import { EventEmitter } from 'node:events';
import { type FSWatcher, readFileSync, unwatchFile, watch, watchFile } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { ConfigWarning } from './explain.js';
import { overrideWarning } from './known.js';
import { ConfigError, type Loaded, type LoadOptions, loadConfig, shownValue } from './load.js';
import { RESTART_ONLY } from './schema.js';

export interface ReloadLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A warning as a log line's fields and message. */
export function logWarning(log: Pick<ReloadLog, 'warn'>, w: ConfigWarning, trigger?: string): void {
  const fields = { variable: w.variable, source: w.source, ...(w.suggestion ? { did_you_mean: w.suggestion } : {}) };
  log.warn(trigger === undefined ? fields : { trigger, ...fields }, w.message);
}

/** Each changed variable's old and new value, secrets masked. */
const changesOf = (prev: Loaded, next: Loaded, changed: string[]) =>
  Object.fromEntries(
    changed.map((k) => [
      k,
      {
        from: shownValue(k, (prev.env as Record<string, unknown>)[k]) ?? null,
        to: shownValue(k, (next.env as Record<string, unknown>)[k]) ?? null,
      },
    ]),
  );

/** Edits to the env file that the process environment overrides: they change nothing, say so. */
const shadowedEdits = (prev: Loaded, next: Loaded): ConfigWarning[] =>
  next.overridden
    .filter((k) => prev.fileValues[k] !== next.fileValues[k])
    .map((k) => {
      const w = overrideWarning(k, next.envFile ?? 'env file', next.fileValues[k], undefined);
      const env = shownValue(k, (next.env as Record<string, unknown>)[k]);
      const was = shownValue(k, prev.fileValues[k]);
      const now = shownValue(k, next.fileValues[k]);
      return {
        ...w,
        message: `${k} changed in the env file (${String(was)} -> ${String(now)}) but the environment overrides it (${String(env)}); nothing changes`,
      };
    });

export interface ConfigChange {
  next: Loaded;
  prev: Loaded;
  /** Variables whose value changed. */
  changed: string[];
}

/**
 * Holds the configuration in force and replaces it on reload (SIGHUP or a change to the
 * env file or CONFIG_FILE). A reload that fails validation keeps the old settings and logs why.
 */
export class ConfigSource extends EventEmitter<{ change: [ConfigChange] }> {
  #current: Loaded;
  #options: LoadOptions;
  #log: ReloadLog;
  #watchers: FSWatcher[] = [];
  #polled: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastText = '';
  /** The files' content as of the config in force. */
  #applied = '';

  constructor(initial: Loaded, options: LoadOptions, log: ReloadLog) {
    super();
    this.#current = initial;
    this.#options = options;
    this.#log = log;
    this.#lastText = this.#snapshot();
    this.#applied = this.#lastText;
  }

  get current(): Loaded {
    return this.#current;
  }

  get config() {
    return this.#current.config;
  }

  /** Re-reads everything; returns whether a new config took effect. Every outcome is a log line. */
  reload(trigger: string): boolean {
    let next: Loaded;
    try {
      next = loadConfig(this.#options);
    } catch (e) {
      const issues = e instanceof ConfigError ? e.issues : [(e as Error).message];
      this.#log.error(
        { trigger, issues },
        `config reload rejected; the previous settings stay in force:\n  - ${issues.join('\n  - ')}`,
      );
      return false;
    }
    const prev = this.#current;
    for (const w of next.warnings) if (w.kind === 'unknown_key') logWarning(this.#log, w, trigger);
    for (const w of shadowedEdits(prev, next)) logWarning(this.#log, w, trigger);
    const changed = Object.keys({ ...prev.env, ...next.env }).filter(
      (k) =>
        JSON.stringify((prev.env as Record<string, unknown>)[k]) !==
        JSON.stringify((next.env as Record<string, unknown>)[k]),
    );
    // A change only the price file shows (its content is in the snapshot) also counts.
    const snapshot = this.#snapshot();
    if (changed.length === 0 && snapshot === this.#applied) {
      this.#log.info({ trigger, changed: [] }, 'config reloaded; nothing changed');
      return false;
    }
    this.#applied = snapshot;
    const restartOnly = changed.filter((k) => (RESTART_ONLY as readonly string[]).includes(k));
    if (restartOnly.length > 0) {
      this.#log.warn(
        { trigger, variables: restartOnly, changes: changesOf(prev, next, restartOnly) },
        'these settings change only on restart; the running values stay',
      );
      for (const k of restartOnly) (next.env as Record<string, unknown>)[k] = (prev.env as Record<string, unknown>)[k];
      next.config.host = prev.config.host;
      next.config.port = prev.config.port;
      next.config.stateUrl = prev.config.stateUrl;
      next.config.stateSpoolDir = prev.config.stateSpoolDir;
      next.config.pidFile = prev.config.pidFile;
      next.config.otel = prev.config.otel;
    }
    this.#current = next;
    const hot = changed.filter((k) => !restartOnly.includes(k));
    const files = changed.length === 0 ? ' (a file it reads changed: prices or CONFIG_FILE)' : '';
    this.#log.info({ trigger, changed: hot, changes: changesOf(prev, next, hot) }, `config reloaded${files}`);
    this.emit('change', { next, prev, changed });
    return true;
  }

  #files(): string[] {
    const files = [this.#current.envFile, this.#current.config.configFile, this.#current.config.pricesFile].filter(
      (f): f is string => !!f,
    );
    return [...new Set(files)];
  }

  #snapshot(): string {
    return this.#files()
      .map((f) => {
        try {
          return readFileSync(f, 'utf8');
        } catch {
          return '';
        }
      })
      .join('\0');
  }

  #schedule(trigger: string) {
    clearTimeout(this.#timer);
    // Editors write in several steps; wait for the burst to settle, then compare content.
    this.#timer = setTimeout(() => {
      const text = this.#snapshot();
      if (text === this.#lastText) return;
      this.#lastText = text;
      this.reload(trigger);
    }, 50);
    this.#timer.unref();
  }

  /** Watches the env file and CONFIG_FILE (directory events plus a 250 ms poll, for bind mounts). */
  watch(): this {
    for (const file of this.#files()) {
      try {
        const w = watch(dirname(file), { persistent: false }, (_event, name) => {
          if (name === null || name.toString() === basename(file)) this.#schedule(`file changed: ${basename(file)}`);
        });
        w.on('error', () => {});
        this.#watchers.push(w);
      } catch {
        // The poll below still covers it.
      }
      watchFile(file, { interval: 250, persistent: false }, () => this.#schedule(`file changed: ${basename(file)}`));
      this.#polled.push(file);
    }
    return this;
  }

  /** Reload now, whatever the files say (SIGHUP). */
  forceReload(trigger: string): boolean {
    this.#lastText = this.#snapshot();
    return this.reload(trigger);
  }

  close() {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    for (const f of this.#polled) unwatchFile(f);
    this.#watchers = [];
    this.#polled = [];
  }
}
