// The subpath exports of deno.json (`@spool/spool/stream`, `/pool`, ...) stay in step with the
// root export: each names only what the root exports, declared in the same place, and every
// export is covered by the documentation lint of `deno task check`.
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
  exports: Record<string, string>;
  tasks: Record<string, string>;
};
const AREAS = ["stream", "state", "frame", "loop", "pool", "pipeline", "native", "nats"];
/** Subpaths that are commands (`deno run -A jsr:@spool/spool/worker`), not API areas. */
const COMMANDS: Record<string, string> = { "./worker": "./src/pool/nats/remote_worker_main.ts" };
const subpaths = Object.entries(config.exports).filter(([name]) =>
  name !== "." && !(name in COMMANDS)
);

/** Every exported name of each file (types included) with where it is first declared. */
async function declaredExports(
  files: readonly string[],
): Promise<Map<string, Map<string, string>>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...files],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  type Location = { filename: string; line: number };
  type Declaration = { kind: string; location: Location; def?: { target?: Location } };
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols: { name: string; declarations: Declaration[] }[] }>;
  };
  const byFile = new Map<string, Map<string, string>>();
  for (const [url, { symbols }] of Object.entries(doc.nodes)) {
    const names = new Map<string, string>();
    for (const { name, declarations } of symbols) {
      // a re-export names its target's first declaration; overloads add more lines after it
      const first = declarations
        .map((d) => (d.kind === "reference" && d.def?.target ? d.def.target : d.location))
        .sort((a, b) => a.filename.localeCompare(b.filename) || a.line - b.line)[0]!;
      names.set(name, `${first.filename.slice(root.href.length)}:${first.line}`);
    }
    byFile.set(url.slice(root.href.length), names);
  }
  return byFile;
}

Deno.test("deno.json exports the root and one subpath per area's mod.ts", () => {
  assert.equal(config.exports["."], "./mod.ts");
  assert.deepEqual(
    Object.fromEntries(subpaths),
    Object.fromEntries(AREAS.map((area) => [`./${area}`, `./src/${area}/mod.ts`])),
  );
});

Deno.test("deno.json exports each command subpath, at its entry file", () => {
  for (const [name, file] of Object.entries(COMMANDS)) assert.equal(config.exports[name], file);
});

Deno.test("the documentation lint of deno task check covers every export", () => {
  const linted = config.tasks["check:docs"]!.split(/\s+/);
  for (const file of Object.values(config.exports)) {
    assert.ok(linted.includes(file.replace(/^\.\//, "")), `check:docs does not lint ${file}`);
  }
});

Deno.test("each subpath exports only names the root exports, declared in the same place", async () => {
  const files = ["mod.ts", ...subpaths.map(([, file]) => file.replace(/^\.\//, ""))];
  const exports = await declaredExports(files);
  const rootNames = exports.get("mod.ts")!;
  for (const file of files.slice(1)) {
    const names = exports.get(file);
    assert.ok(names && names.size > 0, `${file} exports nothing`);
    for (const [name, place] of names) {
      assert.ok(rootNames.has(name), `${file} exports ${name}, which mod.ts does not`);
      assert.equal(rootNames.get(name), place, `${file} and mod.ts export different ${name}s`);
    }
  }
});

Deno.test("each subpath's runtime values are the root's own values", async () => {
  const rootModule: Record<string, unknown> = await import(new URL("mod.ts", root).href);
  for (const [subpath, file] of subpaths) {
    const module: Record<string, unknown> = await import(new URL(file, root).href);
    for (const [name, value] of Object.entries(module)) {
      assert.ok(name in rootModule, `${subpath} exports ${name}, which the root does not`);
      assert.equal(rootModule[name], value, `${subpath} and the root export different ${name}s`);
    }
  }
});
