/**
 * Test helper for the gates: write a small fixture tree (`{ "src/a/x.ts": "..." }`) into a fresh
 * temporary folder, run `fn` on it, and remove the folder afterwards whatever happens.
 *
 * @module
 */

/** Paths relative to the tree's root, mapped to file contents. */
export type Tree = Readonly<Record<string, string>>;

/** Run `fn` with the root of a temporary tree holding `files`; the tree is removed afterwards. */
export async function withTree(
  files: Tree,
  fn: (root: string) => void | Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "spool-gates-" });
  try {
    for (const [path, text] of Object.entries(files)) {
      const full = `${root}/${path}`;
      await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(full, text);
    }
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** How {@linkcode runScript} runs a gate script. */
export interface RunScriptOptions {
  /** Deno permission flags; default `--allow-read --allow-env`. */
  readonly permissions?: readonly string[];
  /** Variables set for the child on top of the inherited environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Run one of the gate scripts on `root` in a child process: its exit code and output lines. */
export async function runScript(
  script: string,
  root: string,
  options: RunScriptOptions = {},
): Promise<{ code: number; lines: string[] }> {
  const permissions = options.permissions ?? ["--allow-read", "--allow-env"];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, new URL(script, import.meta.url).href, root],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, lines: text.split("\n").filter((l) => l !== "") };
}
