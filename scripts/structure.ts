/**
 * `npm run structure`: the layers the source keeps to, checked from its own imports, and its largest
 * files and functions. Exits 1 when an import runs against the layers or goes around a folder's
 * index.ts. `--json` prints the report as JSON.
 *
 * Layers, lowest first (a module may import its own folder, and anything on a lower rank):
 *   0 foundation   config/, errors.ts, json.ts, random.ts, transport.ts
 *   1 state/, providers/, recording/  (recording: keys, files and playback of recorded answers)
 *   2 routing/, limits/
 *   3 metering/
 *   4 proxy/
 *   5 telemetry/                    (reads the proxy's call record; the proxy reports through an observer)
 *   6 health/, admin/               (routes the app mounts; health reports on telemetry's exporter)
 *   7 app.ts
 *   8 edge/                         (the front door: the proxy's routes, else the app)
 *   9 wire.ts                       (the composition root: builds and connects)
 *  10 main.ts                       (the process: env, signals)
 *  11 cli.ts                        (the command line)
 * providers/catalog.ts is ranked alone at 0: the providers' configuration facts, pure data.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

export const RANKS: Record<string, number> = {
  // The providers' configuration facts: pure data, read by config without loading the adapters.
  'providers/catalog.ts': 0,
  config: 0,
  'errors.ts': 0,
  'json.ts': 0,
  'random.ts': 0,
  'transport.ts': 0,
  state: 1,
  providers: 1,
  recording: 1,
  routing: 2,
  limits: 2,
  metering: 3,
  proxy: 4,
  telemetry: 5,
  health: 6,
  admin: 6,
  'app.ts': 7,
  edge: 8,
  'wire.ts': 9,
  'main.ts': 10,
  'cli.ts': 11,
};

export interface Violation {
  from: string;
  to: string;
  why: string;
}

export interface Sized {
  name: string;
  lines: number;
}

export interface StructureReport {
  violations: Violation[];
  files: Sized[];
  functions: Sized[];
}

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });

/** The room a source file lives in: its top folder under src/, the file itself at the top, or a file ranked alone. */
const roomOf = (file: string): string => {
  const path = relative(SRC, file);
  return RANKS[path] !== undefined ? path : (path.split('/')[0] as string);
};

const lineOf = (sf: ts.SourceFile, pos: number) => sf.getLineAndCharacterOfPosition(pos).line;

function importsOf(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      out.push((node.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg !== undefined && ts.isStringLiteral(arg)) out.push(arg.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function functionsOf(sf: ts.SourceFile, file: string): Sized[] {
  const out: Sized[] = [];
  const visit = (node: ts.Node, owner: string) => {
    let name = owner;
    if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isGetAccessor(node)) {
      name = node.name?.getText(sf) ?? '(anonymous)';
    } else if (ts.isVariableDeclaration(node) && node.initializer && ts.isArrowFunction(node.initializer)) {
      name = node.name.getText(sf);
    } else if (ts.isFunctionExpression(node) && node.name) {
      name = node.name.getText(sf);
    }
    const isFunction =
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isFunctionExpression(node) ||
      ts.isArrowFunction(node) ||
      ts.isGetAccessor(node) ||
      ts.isConstructorDeclaration(node);
    if (isFunction && (node as ts.FunctionLikeDeclaration).body) {
      const lines = lineOf(sf, node.getEnd()) - lineOf(sf, node.getStart(sf)) + 1;
      out.push({ name: `${relative(ROOT, file)}:${lineOf(sf, node.getStart(sf)) + 1} ${name}`, lines });
    }
    ts.forEachChild(node, (child) => visit(child, name));
  };
  visit(sf, '(anonymous)');
  return out;
}

/** Why an import from `file` to `target` runs against the layers, or undefined when it keeps to them. */
function violation(file: string, target: string): string | undefined {
  const from = roomOf(file);
  const to = roomOf(target);
  if (from === to) return undefined;
  const rankFrom = RANKS[from];
  const rankTo = RANKS[to];
  if (rankFrom === undefined) return `${from} has no layer`;
  if (rankTo === undefined) return `${to} has no layer`;
  if (rankTo > rankFrom) return `${from} (layer ${rankFrom}) imports ${to} (layer ${rankTo})`;
  if (rankTo === rankFrom && rankFrom !== 0) return `${from} and ${to} share layer ${rankFrom}`;
  // A folder is entered through its index.ts (the foundation's config folder too).
  const isFolder = !to.endsWith('.ts') && statSync(join(SRC, to)).isDirectory();
  if (isFolder && relative(join(SRC, to), target) !== 'index.ts') return `goes around ${to}/index.ts`;
  return undefined;
}

/** `extra` adds imports to judge as if the code had them (to show the check can fail). */
export function structure({ extra = [] }: { extra?: { from: string; to: string }[] } = {}): StructureReport {
  const violations: Violation[] = [];
  for (const e of extra) {
    const why = violation(join(ROOT, e.from), join(ROOT, e.to));
    if (why !== undefined) violations.push({ ...e, why });
  }
  const files: Sized[] = [];
  const functions: Sized[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    files.push({ name: relative(ROOT, file), lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) });
    functions.push(...functionsOf(sf, file));
    for (const spec of importsOf(sf)) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      const why = violation(file, target);
      if (why !== undefined) violations.push({ from: relative(ROOT, file), to: relative(ROOT, target), why });
    }
  }
  files.sort((a, b) => b.lines - a.lines);
  functions.sort((a, b) => b.lines - a.lines);
  return { violations, files, functions };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const report = structure();
  const top = Number(process.env.STRUCTURE_TOP ?? 5);
  if (process.argv.includes('--json')) {
    process.stdout.write(
      `${JSON.stringify({ ...report, files: report.files.slice(0, top), functions: report.functions.slice(0, top) }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(
      `Largest files:\n${report.files
        .slice(0, top)
        .map((f) => `  ${f.lines}  ${f.name}`)
        .join('\n')}\n`,
    );
    process.stdout.write(
      `Largest functions:\n${report.functions
        .slice(0, top)
        .map((f) => `  ${f.lines}  ${f.name}`)
        .join('\n')}\n`,
    );
    process.stdout.write(
      report.violations.length === 0
        ? 'Imports: every import keeps to the layers and enters folders through index.ts\n'
        : `Imports against the layers (${report.violations.length}):\n${report.violations.map((v) => `  ${v.from} -> ${v.to}: ${v.why}`).join('\n')}\n`,
    );
  }
  process.exitCode = report.violations.length === 0 ? 0 : 1;
}
