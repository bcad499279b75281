/**
 * Counts the generated cases each operation was checked with, so the suite can say how much it
 * tried: printed when a suite ends, and merged into `CONFORMANCE_CASES_FILE` (JSON) when set.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const counts = new Map<string, number>();

/** One more answer of `operation` (e.g. `openai POST /v1/chat/completions (json)`) was validated. */
export function countCase(operation: string, by = 1): void {
  counts.set(operation, (counts.get(operation) ?? 0) + by);
}

/** The counts of operations whose name starts with `prefix`, as a small table. */
export function caseTable(prefix: string): string {
  const rows = [...counts].filter(([op]) => op.startsWith(prefix)).sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(...rows.map(([op]) => op.length), 9);
  const lines = rows.map(([op, n]) => `  ${op.padEnd(width)}  ${String(n).padStart(5)}`);
  // Rows named `…: chunks` / `…: events` count what one request's answer held, not requests.
  const total = rows.filter(([op]) => !op.includes(': ')).reduce((sum, [, n]) => sum + n, 0);
  return [
    `conformance cases (${prefix.trim()}):`,
    ...lines,
    `  ${'requests'.padEnd(width)}  ${String(total).padStart(5)}`,
  ].join('\n');
}

/** Prints the table and merges the counts into CONFORMANCE_CASES_FILE when it is set. */
export function reportCases(prefix: string, env: NodeJS.ProcessEnv = process.env): void {
  process.stdout.write(`${caseTable(prefix)}\n`);
  const file = env.CONFORMANCE_CASES_FILE;
  if (file === undefined || file === '') return;
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>) : {};
  for (const [op, n] of counts) if (op.startsWith(prefix)) previous[op] = n;
  writeFileSync(file, `${JSON.stringify(previous, null, 2)}\n`);
}
