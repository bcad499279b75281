import { isAbsolute, relative } from 'node:path';
import { shownValue } from './mask.js';

/*
 * What makes the configuration explain itself: where each value came from, the closest known
 * name for one the schema does not know, and problems worded as `VAR=value (where): expected`.
 */

/** Something the operator should know about the configuration that does not stop it loading. */
export interface ConfigWarning {
  kind: 'unknown_key' | 'overridden';
  variable: string;
  /** `file:line`, `environment`, or the CONFIG_FILE path. */
  source: string;
  /** The closest known name, when one is close enough to be a likely typo. */
  suggestion?: string;
  message: string;
}

/** Levenshtein distance (insert, delete, substitute), two rows at a time. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, substitute));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/**
 * The known name nearest to `name`, when it is near enough to be a typo of it: at most a third
 * of the name's length apart (and at least 2 edits allowed), so `FOO` suggests nothing.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name.toUpperCase(), candidate.toUpperCase());
    if (best === undefined || distance < best.distance) best = { name: candidate, distance };
  }
  const allowed = Math.max(2, Math.floor(name.length / 3));
  return best !== undefined && best.distance <= allowed ? best.name : undefined;
}

/** A path as the operator wrote it: relative to the working directory when inside it. */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** The line (1-based) of the last assignment to `key` in an env file's text; dotenv keeps the last. */
export function lineOf(text: string, key: string): number | undefined {
  const assignment = new RegExp(`^\\s*(?:export\\s+)?${key.replace(/[.-]/g, '\\$&')}\\s*(?:=|:\\s)`);
  const lines = text.split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) if (assignment.test(lines[i] ?? '')) return i + 1;
  return undefined;
}

/**
 * `BUDGET_DAILY_USD=twelve (.env.development:7): must be a number`; secrets masked, and so is any
 * value that holds one of `secrets` (a token pasted into the wrong variable).
 */
export function problem(
  variable: string,
  value: unknown,
  source: string | undefined,
  expected: string,
  secrets: readonly string[] = [],
): string {
  const masked = shownValue(variable, value);
  const shown =
    typeof masked === 'string' && secrets.some((s) => s.length >= 8 && masked.includes(s)) ? '****' : masked;
  const read = shown === undefined ? ' (not set)' : `=${typeof shown === 'string' ? shown : JSON.stringify(shown)}`;
  return `${variable}${read}${source === undefined ? '' : ` (${source})`}: ${expected}`;
}

export function unknownKeyWarning(variable: string, source: string, known: Iterable<string>): ConfigWarning {
  const suggestion = closestName(variable, known);
  const hint = suggestion === undefined ? 'it is ignored' : `did you mean ${suggestion}?`;
  return {
    kind: 'unknown_key',
    variable,
    source,
    ...(suggestion === undefined ? {} : { suggestion }),
    message: `${variable} (${source}) is not a tollgate setting; ${hint}`,
  };
}
