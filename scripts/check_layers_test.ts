import assert from "node:assert/strict";
import { areaOf, checkLayers, importsOf, LAYERS } from "./check_layers.ts";
import { runScript, type Tree, withTree } from "./_tree.ts";

/** A tree that follows every rule: each area imports only itself and the areas below it. */
const GOOD: Tree = {
  "src/errors.ts": "export class SpoolError extends Error {}\n",
  "src/_internal/options.ts":
    'import { SpoolError } from "../errors.ts";\nexport { SpoolError };\n',
  "src/native/binding.ts": 'import type { SpoolError } from "../errors.ts";\nexport type T = 1;\n',
  "src/stream/batch.ts": [
    'import { SpoolError } from "../errors.ts";',
    'import "../_internal/options.ts";',
    'import type { T } from "../native/binding.ts";',
    'import { helper } from "./internal.ts";',
    "export const batch = (t: T) => helper(t) ?? SpoolError;",
  ].join("\n"),
  "src/stream/internal.ts": "export const helper = (x: unknown) => x;\n",
  "src/stream/mod.ts": 'export { batch } from "./batch.ts";\n',
  // a test may import anything: tests are not library files
  "src/stream/batch_test.ts": 'import "../pipeline/run.ts";\n',
  "src/native/testdata/probe.ts": 'import "../../pipeline/run.ts";\n',
  "src/state/store.ts": 'import "../stream/batch.ts";\n',
  "src/frame/frame.ts": 'import "../state/store.ts";\nimport "../native/binding.ts";\n',
  "src/frame/bytes.ts": "export const bytes = 1;\n",
  "src/_internal/turn.ts": "export const turn = 1;\n",
  "src/loop/loop.ts": 'import "../frame/frame.ts";\nimport "../stream/mod.ts";\n',
  "src/pool/worker_pool.ts": [
    'import "../state/store.ts";',
    'const worker = new URL("./thread_entry.ts", import.meta.url);',
    "export { worker };",
  ].join("\n"),
  "src/pool/thread_entry.ts": 'import "./worker_pool.ts";\n',
  "src/pipeline/run.ts": 'import "../loop/loop.ts";\nimport "../pool/worker_pool.ts";\n',
  "src/monitor/page.ts": 'import "../pipeline/run.ts";\n',
  "mod.ts": 'export * from "./src/stream/mod.ts";\nexport * from "./src/pipeline/run.ts";\n',
};

async function violationsOf(extra: Tree): Promise<readonly string[]> {
  let found: readonly string[] = [];
  await withTree({ ...GOOD, ...extra }, async (root) => {
    found = (await checkLayers(root)).violations;
  });
  return found;
}

Deno.test("the layer table ranks every area once, errors.ts at the bottom", () => {
  assert.equal(new Set(LAYERS.map((l) => l.area)).size, LAYERS.length);
  assert.deepEqual(LAYERS[0], { ...LAYERS[0], area: "src/errors.ts", rank: 0 });
  const rank = new Map(LAYERS.map((l) => [l.area, l.rank]));
  assert.equal(rank.get("src/loop/"), rank.get("src/pool/"));
  assert.ok(rank.get("src/_internal/")! < rank.get("src/native/")!);
  assert.ok(rank.get("src/pipeline/")! < rank.get("src/monitor/")!);
  for (const { area } of LAYERS) assert.match(area, /^src\/([a-z_]+\/|[a-z_]+\.ts)$/);
});

Deno.test("a tree whose areas import only downward passes", async () => {
  await withTree(GOOD, async (root) => {
    const report = await checkLayers(root);
    assert.deepEqual(report.violations, []);
    assert.equal(report.files, 15);
  });
});

Deno.test("an import of an area above fails with one line naming both files and areas", async () => {
  assert.deepEqual(await violationsOf({ "src/stream/batch.ts": 'import "../frame/bytes.ts";\n' }), [
    "src/stream/batch.ts imports src/frame/bytes.ts: src/stream/ may not import src/frame/ " +
    "(src/frame/ is above it)",
  ]);
});

Deno.test("a type-only import of an area above fails too", async () => {
  const found = await violationsOf({
    "src/state/store.ts": 'import type { X } from "../frame/bytes.ts";\nexport type Y = X;\n',
  });
  assert.equal(found.length, 1);
  assert.match(found[0]!, /^src\/state\/store\.ts imports src\/frame\/bytes\.ts: src\/state\//);
});

Deno.test("peers (loop and pool) may not import each other", async () => {
  assert.deepEqual(
    await violationsOf({ "src/loop/loop.ts": 'export * from "../pool/worker_pool.ts";\n' }),
    [
      "src/loop/loop.ts imports src/pool/worker_pool.ts: src/loop/ may not import src/pool/ " +
      "(peers: neither imports the other)",
    ],
  );
});

Deno.test("a folder of src/ that is not in the layer table fails, and so do its imports", async () => {
  const found = await violationsOf({
    "src/widgets/knob.ts": 'import "../errors.ts";\n',
    "src/stream/batch.ts": 'import "../widgets/knob.ts";\n',
    "src/helpers.ts": "export {};\n",
  });
  assert.deepEqual(found, [
    "src/helpers.ts: not an area of the layer table: place it in LAYERS in scripts/check_layers.ts",
    "src/stream/batch.ts imports src/widgets/knob.ts: src/stream/ may not import src/widgets/ " +
    "(not an area of the layer table)",
    "src/widgets/: not an area of the layer table: place it in LAYERS in scripts/check_layers.ts",
  ]);
});

Deno.test("_internal imports only errors.ts, and errors.ts imports nothing of spool", async () => {
  const found = await violationsOf({
    "src/_internal/options.ts": 'import "../stream/internal.ts";\n',
    "src/errors.ts": 'import "./_internal/turn.ts";\n',
  });
  assert.deepEqual(found, [
    "src/_internal/options.ts imports src/stream/internal.ts: src/_internal/ may not import " +
    "src/stream/ (src/stream/ is above it)",
    "src/errors.ts imports src/_internal/turn.ts: src/errors.ts may not import src/_internal/ " +
    "(src/_internal/ is above it)",
  ]);
});

Deno.test("an area's mod.ts re-exports only its own area", async () => {
  assert.deepEqual(await violationsOf({ "src/stream/mod.ts": 'export * from "../errors.ts";\n' }), [
    "src/stream/mod.ts imports src/errors.ts: src/stream/ may not import src/errors.ts " +
    "(its mod.ts re-exports only its own area)",
  ]);
});

Deno.test("an import that leaves src/ fails", async () => {
  assert.deepEqual(await violationsOf({ "src/pipeline/run.ts": 'import "../../mod.ts";\n' }), [
    "src/pipeline/run.ts imports mod.ts: src/pipeline/ may not import files outside src/",
  ]);
});

Deno.test("an import cycle fails, reported as a path, type-only edges included", async () => {
  const found = await violationsOf({
    "src/stream/internal.ts": 'import type { batch } from "./batch.ts";\nexport type B = batch;\n',
  });
  assert.deepEqual(found, [
    "import cycle: src/stream/batch.ts -> src/stream/internal.ts -> src/stream/batch.ts",
  ]);
});

Deno.test("a longer cycle is reported once, as its shortest path through its first file", async () => {
  const found = await violationsOf({
    "src/state/a.ts": 'import "./b.ts";\n',
    "src/state/b.ts": 'import "./c.ts";\n',
    "src/state/c.ts": 'import "./a.ts";\nimport "./b.ts";\n',
    "src/state/self.ts": 'import "./self.ts";\n',
  });
  assert.deepEqual(found, [
    "import cycle: src/state/a.ts -> src/state/b.ts -> src/state/c.ts -> src/state/a.ts",
    "import cycle: src/state/self.ts -> src/state/self.ts",
  ]);
});

Deno.test("a worker entry URL counts for the area rule but not for cycles", async () => {
  const found = await violationsOf({
    "src/loop/loop.ts": 'const u = new URL("../pool/thread_entry.ts", import.meta.url);\n',
  });
  assert.deepEqual(found, [
    "src/loop/loop.ts imports src/pool/thread_entry.ts: src/loop/ may not import src/pool/ " +
    "(peers: neither imports the other)",
  ]);
});

Deno.test("every form of relative import is found; comments, strings and packages are not", () => {
  const text = [
    "// import { x } from '../frame/a.ts';",
    "/* export * from '../frame/b.ts'; */",
    "const s = \"import '../frame/c.ts'\";",
    'import assert from "node:assert/strict";',
    'import * as arrow from "npm:apache-arrow@19";',
    'import { a } from "./a.ts";',
    'import type { B } from "../b/b.ts";',
    'import "./side.ts";',
    'export { c } from "./c.ts";',
    'export type * from "./d.ts";',
    'import e = require("./e.ts");',
    'type F = import("./f.ts").F;',
    'const g = await import("./g.ts");',
    "const h = await import(`./h.ts`);",
    'const w = new URL("./worker.ts", import.meta.url);',
    'const data = new URL("./data.json", import.meta.url);',
    'const other = new URL("./other.ts", "file:///x/");',
  ].join("\n");
  const found = importsOf("src/x/file.ts", text).map((i) => `${i.kind} ${i.to}`);
  assert.deepEqual(found, [
    "static src/x/a.ts",
    "static src/b/b.ts",
    "static src/x/side.ts",
    "static src/x/c.ts",
    "static src/x/d.ts",
    "static src/x/e.ts",
    "type src/x/f.ts",
    "dynamic src/x/g.ts",
    "dynamic src/x/h.ts",
    "worker src/x/worker.ts",
  ]);
});

Deno.test("a file belongs to the folder under src/ that holds it, or is its own area", () => {
  assert.equal(areaOf("src/errors.ts"), "src/errors.ts");
  assert.equal(areaOf("src/stream/batch.ts"), "src/stream/");
  assert.equal(areaOf("src/pool/deep/inner.ts"), "src/pool/");
});

Deno.test("the script exits 1 with one line per violation, and 0 on a good tree", async () => {
  await withTree(GOOD, async (root) => {
    const good = await runScript("./check_layers.ts", root);
    assert.equal(good.code, 0, good.lines.join("\n"));
    assert.match(good.lines.at(-1)!, /^layers: ok \(15 files, \d+ relative imports under /);
  });
  await withTree(
    { ...GOOD, "src/stream/batch.ts": 'import "../frame/bytes.ts";\n' },
    async (root) => {
      const bad = await runScript("./check_layers.ts", root);
      assert.equal(bad.code, 1, bad.lines.join("\n"));
      assert.deepEqual(bad.lines.slice(0, -1), [
        "src/stream/batch.ts imports src/frame/bytes.ts: src/stream/ may not import src/frame/ " +
        "(src/frame/ is above it)",
      ]);
      assert.match(bad.lines.at(-1)!, /^layers: 1 violation\(s\) in 15 files/);
    },
  );
});

Deno.test("docs/contributing.md shows the layer table as the script has it", async () => {
  const text = await Deno.readTextFile(new URL("../docs/contributing.md", import.meta.url));
  const rows = [...text.matchAll(/^\| (\d+) +\| `(src\/[^`]+)` +\| (.+?) +\|$/gm)]
    .map(([, rank, area, holds]) => ({ area, rank: Number(rank), holds }));
  assert.deepEqual(rows, LAYERS.map(({ area, rank, holds }) => ({ area, rank, holds })));
});
