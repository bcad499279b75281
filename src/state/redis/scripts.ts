/**
 * The Lua scripts, kept as `.lua` files next to this module (copied into dist by the build) and
 * joined from parts: a command's script is its shared functions followed by its body.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export type ScriptPart =
  | 'state'
  | 'read'
  | 'cas'
  | 'book'
  | 'record'
  | 'clock'
  | 'limits'
  | 'admit'
  | 'settle'
  | 'counters';

export type Reply = (string | number)[];
export type ScriptArg = string | number;
type Command = (numKeys: number, ...args: ScriptArg[]) => Promise<Reply>;

/** The commands `defineScripts` adds (numkeys first, as EVALSHA takes it). */
export interface ScriptedRedis extends Redis {
  tgRead: Command;
  tgCas: Command;
  tgRecord: Command;
  tgAdmit: Command;
  tgSettle: Command;
  tgCounters: Command;
}

export type CommandName = 'tgRead' | 'tgCas' | 'tgRecord' | 'tgAdmit' | 'tgSettle' | 'tgCounters';

/** Which parts make each command, in order: functions first, the body last. */
export const COMMAND_PARTS: Readonly<Record<CommandName, readonly ScriptPart[]>> = {
  tgRead: ['state', 'read'],
  tgCas: ['state', 'cas'],
  tgRecord: ['book', 'record'],
  tgAdmit: ['clock', 'limits', 'admit'],
  tgSettle: ['book', 'clock', 'limits', 'settle'],
  tgCounters: ['counters'],
};

export function readScriptPart(part: ScriptPart): string {
  return readFileSync(new URL(`./scripts/${part}.lua`, import.meta.url), 'utf8');
}

/** Every command's script text; `replace` swaps parts (a test's settable clock for `clock`). */
export function loadScripts(replace: Partial<Record<ScriptPart, string>> = {}): Record<CommandName, string> {
  const text = (part: ScriptPart) => replace[part] ?? readScriptPart(part);
  const out = {} as Record<CommandName, string>;
  for (const [name, parts] of Object.entries(COMMAND_PARTS) as [CommandName, readonly ScriptPart[]][]) {
    out[name] = parts.map(text).join('\n');
  }
  return out;
}

/** Adds the commands to a client (EVALSHA, loading the script on first use). */
export function defineScripts(redis: Redis, scripts: Record<CommandName, string> = loadScripts()): ScriptedRedis {
  for (const [name, lua] of Object.entries(scripts)) redis.defineCommand(name, { lua });
  return redis as ScriptedRedis;
}
