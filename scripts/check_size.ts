/**
 * The size gate: no library file under `src/` has more than {@linkcode MAX_FILE_LINES} lines, and
 * no function, method, accessor, constructor or arrow function has a body of more than
 * {@linkcode MAX_FUNCTION_LINES} lines, except the entries of the allow-list
 * `scripts/size_allow.json`.
 *
 * Usage: `deno run --allow-read --allow-env scripts/check_size.ts [root]` (`root` defaults to the
 * current folder; the allow-list is read from `<root>/scripts/size_allow.json`, absent means
 * empty). Prints one line per violation and exits 1 when there is one.
 *
 * The allow-list maps a key to a one-line justification:
 * `{ "src/pipeline/run.ts": "...", "src/pipeline/run.ts#PipelineRun.#poolNode": "..." }`. A key
 * without `#` exempts a file's length (not its functions); `path#name` exempts one function. An
 * entry that is no longer needed (the file or function is within the limit, or gone) is itself a
 * violation, so the list only shrinks.
 *
 * A function's name is its path of enclosing names: `Class.method`, `Class.#private`,
 * `Class.constructor`, `Class.get name`, `outer/inner` for a function declared inside another,
 * `(anonymous)` for a callback; a name used twice in a file gets `@2`, `@3` in source order. Its
 * length is the number of lines from the body's opening `{` to its closing `}` (for an arrow
 * function with an expression body, the lines of the expression), blank and comment lines
 * included.
 *
 * @module
 */

import { rootArgument } from "./_args.ts";
import { parse, readLibraryFiles, type SourceFile, ts } from "./_source.ts";

/** The most lines a library file may have. */
export const MAX_FILE_LINES = 500;
/** The most lines a function body may have. */
export const MAX_FUNCTION_LINES = 80;
/** Where the allow-list lives, relative to the root. */
export const ALLOW_LIST = "scripts/size_allow.json";

/** The size of one function body. */
export interface FunctionSize {
  /** `path#name`, the key an allow-list entry uses. */
  readonly key: string;
  /** The 1-based line where the function starts. */
  readonly line: number;
  /** The lines of its body. */
  readonly lines: number;
}

/** The sizes of one library file. */
export interface FileSize {
  /** Root-relative path, e.g. `src/pipeline/run.ts`. */
  readonly path: string;
  /** Its number of lines. */
  readonly lines: number;
  /** Every function with a body, in source order. */
  readonly functions: readonly FunctionSize[];
}

/** What {@linkcode checkSize} found. */
export interface SizeReport {
  /** One line per violation (too long and not allowed, or a stale allow-list entry). */
  readonly violations: readonly string[];
  /** How many library files were read. */
  readonly files: number;
  /** How many allow-list entries are in use. */
  readonly allowed: number;
}

/** Count lines as `wc -l` does for a file that ends with a newline. */
function lineCount(text: string): number {
  if (text.length === 0) return 0;
  const newlines = text.split("\n").length - 1;
  return text.endsWith("\n") ? newlines : newlines + 1;
}

/** The sizes of one file's functions. */
export function measure(file: SourceFile): FileSize {
  const source = parse(file);
  const functions: FunctionSize[] = [];
  const used = new Map<string, number>();
  const lineOf = (position: number) => source.getLineAndCharacterOfPosition(position).line + 1;
  // `prefix` is what the names declared inside a node start with: `Class.`, `table.`, `outer/`
  const visit = (node: ts.Node, prefix: string): void => {
    let inner = prefix;
    if (ts.isClassLike(node)) {
      inner = `${prefix}${node.name?.text ?? "(anonymous class)"}.`;
    } else if (ts.isObjectLiteralExpression(node) && ts.isVariableDeclaration(node.parent)) {
      inner = `${prefix}${node.parent.name.getText(source)}.`;
    } else if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const body = node.body as ts.Node;
      let name = `${prefix}${functionName(node, source)}`;
      const seen = (used.get(name) ?? 0) + 1;
      used.set(name, seen);
      if (seen > 1) name = `${name}@${seen}`;
      functions.push({
        key: `${file.path}#${name}`,
        line: lineOf(node.getStart(source)),
        lines: lineOf(body.end) - lineOf(body.getStart(source)) + 1,
      });
      inner = `${name}/`;
    }
    ts.forEachChild(node, (child) => visit(child, inner));
  };
  visit(source, "");
  return { path: file.path, lines: lineCount(file.text), functions };
}

/** The name a function is known by where it is declared. */
function functionName(node: ts.SignatureDeclaration, source: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const own = node.name?.getText(source);
  if (ts.isGetAccessor(node)) return `get ${own}`;
  if (ts.isSetAccessor(node)) return `set ${own}`;
  if (own) return own;
  const parent = node.parent;
  if (
    (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) ||
      ts.isPropertyDeclaration(parent)) && parent.initializer === node
  ) {
    return parent.name.getText(source);
  }
  if (ts.isBinaryExpression(parent) && parent.right === node) {
    const target = parent.left;
    return ts.isPropertyAccessExpression(target)
      ? target.name.getText(source)
      : target.getText(source);
  }
  return "(anonymous)";
}

/** Read and validate the allow-list; absent means empty. */
export async function readAllowList(root: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${root}/${ALLOW_LIST}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return new Map();
    throw error;
  }
  const data: unknown = JSON.parse(text);
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new TypeError(
      `Cannot read ${ALLOW_LIST}: it must be an object of "key": "justification", received ${
        text.slice(0, 40)
      }`,
    );
  }
  const entries = new Map<string, string>();
  for (const [key, justification] of Object.entries(data)) {
    if (typeof justification !== "string" || justification.trim() === "") {
      throw new TypeError(
        `Cannot read ${ALLOW_LIST}: the entry "${key}" needs a one-line justification, received ${
          JSON.stringify(justification)
        }`,
      );
    }
    entries.set(key, justification);
  }
  return entries;
}

/** The violations of the measured files against the limits and the allow-list. */
export function sizeViolations(
  sizes: readonly FileSize[],
  allow: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = [];
  const found = new Map<string, number>();
  for (const file of sizes) {
    found.set(file.path, file.lines);
    if (file.lines > MAX_FILE_LINES && !allow.has(file.path)) {
      out.push(`${file.path}: ${file.lines} lines (limit ${MAX_FILE_LINES})`);
    }
    for (const fn of file.functions) {
      found.set(fn.key, fn.lines);
      if (fn.lines > MAX_FUNCTION_LINES && !allow.has(fn.key)) {
        out.push(
          `${fn.key}: body of ${fn.lines} lines (limit ${MAX_FUNCTION_LINES}), line ${fn.line}`,
        );
      }
    }
  }
  for (const key of allow.keys()) {
    const lines = found.get(key);
    const isFunction = key.includes("#");
    const limit = isFunction ? MAX_FUNCTION_LINES : MAX_FILE_LINES;
    const stale = `${ALLOW_LIST}: "${key}" is stale`;
    if (lines === undefined) {
      out.push(`${stale}: no such ${isFunction ? "function" : "library file"}; remove the entry`);
    } else if (lines <= limit) {
      out.push(`${stale}: ${lines} lines now (limit ${limit}); remove the entry`);
    }
  }
  return out;
}

/**
 * Check the sizes of `<root>/src/` against the limits and `<root>/scripts/size_allow.json`.
 *
 * @param root The repository root (the folder that holds `src/`).
 */
export async function checkSize(root: string): Promise<SizeReport> {
  const allow = await readAllowList(root);
  const sizes = (await readLibraryFiles(root)).map(measure);
  const violations = sizeViolations(sizes, allow);
  return { violations, files: sizes.length, allowed: allow.size };
}

if (import.meta.main) {
  const root = rootArgument(Deno.args);
  const report = await checkSize(root);
  for (const line of report.violations) console.log(line);
  const where = `${report.files} files under ${root}/src/, ${report.allowed} allow-list entries`;
  if (report.violations.length > 0) {
    console.log(`size: ${report.violations.length} violation(s) (${where})`);
    Deno.exit(1);
  }
  console.log(`size: ok (${where})`);
}
