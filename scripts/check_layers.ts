/**
 * The layering gate: every library file under `src/` imports only its own area and the areas
 * below it (see {@linkcode LAYERS}), and no import cycle exists among the files of `src/`.
 *
 * Usage: `deno run --allow-read scripts/check_layers.ts [root]` (`root` defaults to the current
 * folder). Prints one line per violation and exits 1 when there is one; exits 0 with a summary
 * line otherwise.
 *
 * What counts as an import: `import ... from`, `import "..."`, `export ... from`, `import type`,
 * `import("...")` (dynamic, or as a type), with a relative specifier. A worker entry named by
 * `new URL("./x.ts", import.meta.url)` counts for the area rule too (the worker runs that file),
 * but not for cycles (it is not loaded into the importer's module graph). Type-only imports count:
 * the rule is about what a reader must understand, not about what runs.
 *
 * @module
 */

import { rootArgument } from "./_args.ts";
import { parse, readLibraryFiles, ts } from "./_source.ts";

/** One area of `src/` and its rank in the layer order. */
export interface Layer {
  /** `src/<folder>/` for a folder, or the path of a single file (`src/errors.ts`). */
  readonly area: string;
  /** Bottom is 0. An area imports only areas of a lower rank; equal ranks are peers. */
  readonly rank: number;
  /** What the area holds, in a few words. */
  readonly holds: string;
}

/**
 * The layer order, bottom to top: the one place it is written (docs cite this table).
 *
 * - An area may import its own files and the files of any area of a lower rank.
 * - Two areas of the same rank are peers and may not import each other.
 * - `src/<area>/mod.ts` (the area's re-export file) may import only its own area.
 * - A folder of `src/` that is not in this table is a violation: a new area is placed here first.
 * - The root `mod.ts` is not in `src/` and may import anything.
 */
export const LAYERS: readonly Layer[] = [
  { area: "src/errors.ts", rank: 0, holds: "SpoolError and the shared error classes" },
  { area: "src/_internal/", rank: 1, holds: "mechanisms written once (options, turns, ...)" },
  { area: "src/native/", rank: 2, holds: "the napi-rs loader, wrappers and TS fallbacks" },
  { area: "src/nats/", rank: 2, holds: "the NATS connection, the pinned client (peer of native)" },
  { area: "src/stream/", rank: 3, holds: "prefetch, batch, channel, map, merge, lines, ..." },
  { area: "src/state/", rank: 4, holds: "StateStore, states, conditions, keepers" },
  { area: "src/frame/", rank: 5, holds: "Frame, byte accounting, adapters" },
  { area: "src/io/", rank: 6, holds: "resumable sources and exactly-once sinks (future)" },
  { area: "src/loop/", rank: 7, holds: "StatefulLoop (peer of pool)" },
  { area: "src/pool/", rank: 7, holds: "WorkerPool (peer of loop)" },
  { area: "src/pipeline/", rank: 8, holds: "Graph, Pipeline, the run, CLI" },
  { area: "src/monitor/", rank: 9, holds: "live run page, metrics (future)" },
];

/** How a file refers to another. */
export type ImportKind = "static" | "dynamic" | "type" | "worker";

/** One relative import of a library file, resolved to a root-relative path. */
export interface Import {
  /** The importing file, e.g. `src/stream/batch.ts`. */
  readonly from: string;
  /** The imported file, resolved against `from`, e.g. `src/frame/bytes.ts`. */
  readonly to: string;
  /** How it is imported. */
  readonly kind: ImportKind;
}

/** What {@linkcode checkLayers} found. */
export interface LayersReport {
  /** One line per violation, sorted: empty when the tree follows the rules. */
  readonly violations: readonly string[];
  /** How many library files were read. */
  readonly files: number;
  /** How many relative imports they hold. */
  readonly imports: number;
}

const RANKS = new Map(LAYERS.map((l) => [l.area, l.rank]));

/** The area a root-relative path belongs to (`src/<folder>/` or a top-level `src/` file). */
export function areaOf(path: string): string {
  const parts = path.split("/");
  return parts.length > 2 ? `${parts[0]}/${parts[1]}/` : path;
}

/** Every relative import of one file, in source order. */
export function importsOf(path: string, text: string): Import[] {
  const found: Import[] = [];
  const add = (specifier: string, kind: ImportKind) => {
    if (!specifier.startsWith("./") && !specifier.startsWith("../")) return;
    const to = new URL(specifier, `file:///${path}`).pathname.slice(1);
    found.push({ from: path, to, kind });
  };
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, "static");
    } else if (
      ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      add(node.moduleReference.expression.text, "static");
    } else if (
      ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, "dynamic");
    } else if (
      ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node.argument.literal.text, "type");
    } else if (isWorkerUrl(node)) {
      add(node.arguments[0].text, "worker");
    }
    ts.forEachChild(node, visit);
  };
  visit(parse({ path, text }));
  return found;
}

/** `new URL("./x.ts", import.meta.url)`: a module file named for a worker or a child process. */
function isWorkerUrl(
  node: ts.Node,
): node is ts.NewExpression & { arguments: [ts.StringLiteralLike, ts.Expression] } {
  if (!ts.isNewExpression(node) || !ts.isIdentifier(node.expression)) return false;
  if (node.expression.text !== "URL" || node.arguments?.length !== 2) return false;
  const [specifier, base] = node.arguments;
  return ts.isStringLiteralLike(specifier!) && /\.[cm]?[jt]sx?$/.test(specifier.text) &&
    base!.getText() === "import.meta.url";
}

/** The violations of the area rules (not cycles) among the given imports. */
export function areaViolations(files: readonly string[], imports: readonly Import[]): string[] {
  const out: string[] = [];
  const unknown = new Set(files.map(areaOf).filter((a) => !RANKS.has(a)));
  for (const area of unknown) {
    out.push(
      `${area}: not an area of the layer table: place it in LAYERS in scripts/check_layers.ts`,
    );
  }
  for (const { from, to } of imports) {
    const fromArea = areaOf(from);
    const fromRank = RANKS.get(fromArea);
    if (fromRank === undefined) continue; // reported once above
    const prefix = `${from} imports ${to}: ${fromArea}`;
    if (!to.startsWith("src/")) {
      out.push(`${prefix} may not import files outside src/`);
      continue;
    }
    const toArea = areaOf(to);
    if (toArea === fromArea) continue;
    const toRank = RANKS.get(toArea);
    if (toRank === undefined) {
      out.push(`${prefix} may not import ${toArea} (not an area of the layer table)`);
    } else if (from === `${fromArea}mod.ts`) {
      out.push(`${prefix} may not import ${toArea} (its mod.ts re-exports only its own area)`);
    } else if (toRank === fromRank) {
      out.push(`${prefix} may not import ${toArea} (peers: neither imports the other)`);
    } else if (toRank > fromRank) {
      out.push(`${prefix} may not import ${toArea} (${toArea} is above it)`);
    }
  }
  return out;
}

/**
 * Every import cycle among the files, one per strongly connected component, as a path
 * `a -> b -> a` (the shortest cycle through the component's first file).
 */
export function findCycles(files: readonly string[], imports: readonly Import[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const { from, to, kind } of imports) {
    if (kind !== "worker" && next.has(to)) next.get(from)!.push(to);
  }
  for (const targets of next.values()) targets.sort();
  return stronglyConnected(files, next)
    .filter((c) => c.length > 1 || next.get(c[0]!)!.includes(c[0]!))
    .map((component) => shortestCycle(component, next))
    .sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** Tarjan's algorithm, iterative: the strongly connected components, each sorted. */
function stronglyConnected(files: readonly string[], next: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const start of files) {
    if (index.has(start)) continue;
    const work: [string, number][] = [[start, 0]];
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const [node, at] = frame;
      if (at === 0) {
        index.set(node, counter);
        low.set(node, counter++);
        stack.push(node);
        onStack.add(node);
      }
      const targets = next.get(node)!;
      if (at < targets.length) {
        frame[1]++;
        const target = targets[at]!;
        if (!index.has(target)) work.push([target, 0]);
        else if (onStack.has(target)) low.set(node, Math.min(low.get(node)!, index.get(target)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent[0], Math.min(low.get(parent[0])!, low.get(node)!));
      if (low.get(node) === index.get(node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== node);
        components.push(component.sort());
      }
    }
  }
  return components;
}

/** Breadth-first from the component's first file back to itself, inside the component. */
function shortestCycle(component: readonly string[], next: Map<string, string[]>): string[] {
  const start = component[0]!;
  const inside = new Set(component);
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const target of next.get(node)!) {
      if (!inside.has(target)) continue;
      if (target === start) {
        const back: string[] = [];
        for (let at = node; at !== start; at = cameFrom.get(at)!) back.push(at);
        return [start, ...back.reverse(), start];
      }
      if (!cameFrom.has(target)) {
        cameFrom.set(target, node);
        queue.push(target);
      }
    }
  }
  return [start, start]; // not reached: a component of two or more files holds a cycle
}

/**
 * Check the layering of `<root>/src/`.
 *
 * @param root The repository root (the folder that holds `src/`).
 */
export async function checkLayers(root: string): Promise<LayersReport> {
  const files = await readLibraryFiles(root);
  const paths = files.map((f) => f.path);
  const imports = files.flatMap((f) => importsOf(f.path, f.text));
  const violations = [
    ...areaViolations(paths, imports).sort(),
    ...findCycles(paths, imports).map((cycle) => `import cycle: ${cycle.join(" -> ")}`),
  ];
  return { violations, files: files.length, imports: imports.length };
}

if (import.meta.main) {
  const root = rootArgument(Deno.args);
  const report = await checkLayers(root);
  for (const line of report.violations) console.log(line);
  const where = `${report.files} files, ${report.imports} relative imports under ${root}/src/`;
  if (report.violations.length > 0) {
    console.log(`layers: ${report.violations.length} violation(s) in ${where}`);
    Deno.exit(1);
  }
  console.log(`layers: ok (${where})`);
}
