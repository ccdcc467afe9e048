/**
 * What the source gates (`check_layers.ts`, `check_size.ts`) read: the library's own files under
 * `src/`, parsed by the TypeScript compiler (pinned here, once).
 *
 * A library file is a `.ts` file under `src/` that is not a test (`*_test.ts`) and not under a
 * `testdata/` folder.
 *
 * @module
 */

import ts from "npm:typescript@5.9.3";

export { ts };

/** One library file: its path relative to the root (`src/...`, `/` separators) and its text. */
export interface SourceFile {
  /** Path relative to the root, with `/` separators, e.g. `src/stream/batch.ts`. */
  readonly path: string;
  /** The file's text. */
  readonly text: string;
}

/** Whether a root-relative path names a library file (not a test, not test data). */
export function isLibraryFile(path: string): boolean {
  return path.startsWith("src/") && path.endsWith(".ts") && !path.endsWith("_test.ts") &&
    !path.endsWith(".d.ts") && !path.split("/").includes("testdata");
}

/**
 * Every library file under `<root>/src/`, sorted by path.
 *
 * @param root The repository root (the folder that holds `src/`).
 */
export async function readLibraryFiles(root: string): Promise<SourceFile[]> {
  const paths: string[] = [];
  async function walk(relative: string): Promise<void> {
    for await (const entry of Deno.readDir(`${root}/${relative}`)) {
      const path = `${relative}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && isLibraryFile(path)) paths.push(path);
    }
  }
  await walk("src");
  paths.sort();
  return await Promise.all(
    paths.map(async (path) => ({ path, text: await Deno.readTextFile(`${root}/${path}`) })),
  );
}

/** Parse one file into a TypeScript syntax tree (no type checking, parents set). */
export function parse(file: SourceFile): ts.SourceFile {
  return ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}
