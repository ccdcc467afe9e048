import assert from "node:assert/strict";
import { InvalidArgumentError } from "../src/errors.ts";
import { loadPipeline, parseDescription, type PipelineDescription } from "../src/pipeline/mod.ts";
import { main } from "../src/pipeline/cli.ts";

const base = new URL("./fixtures/", import.meta.url);

const description: PipelineDescription = {
  nodes: [
    { name: "n", source: true },
    { name: "sq", inputs: ["n"], fn: { module: "./pipeline_fns.ts", export: "square" } },
    { name: "w", inputs: ["n"], pool: "p" },
    {
      name: "c",
      inputs: ["sq"],
      chain: [{ module: "./pipeline_fns.ts", export: "add", args: [1] }, {
        module: "./pipeline_fns.ts",
        export: "add",
        args: [10],
      }],
    },
    { name: "j", inputs: ["c", "w"], fn: { module: "./pipeline_fns.ts", export: "pair" } },
    {
      name: "k",
      inputs: ["j"],
      state: { n: 0 },
      fn: { module: "./pipeline_fns.ts", export: "count" },
    },
  ],
  pools: { p: { module: "./pipeline_worker.ts", size: 1 } },
  sources: { n: { range: 5 } },
};

Deno.test("a JSON description loads into a runnable pipeline (pool, chain, state)", async () => {
  await using loaded = await loadPipeline(JSON.stringify(description), { base });
  assert.deepEqual(loaded.pipeline.sinks(), ["k"]);
  assert.ok(loaded.pipeline.toMermaid().includes("c --> j"));
  const r = await loaded.pipeline.runToCompletion(loaded.sources, { track: ["k"] });
  assert.deepEqual(r.outputs.k, [1, 2, 3, 4, 5]);
  assert.deepEqual(r.states.k, { n: 5 });
  // Same description, same graph.
  await using again = await loadPipeline(description, { base });
  assert.equal(again.pipeline.toDot(), loaded.pipeline.toDot());
});

Deno.test("bad descriptions are refused with the node named", async () => {
  await assert.rejects(
    loadPipeline({
      nodes: [{ name: "x", inputs: [], fn: { module: "./pipeline_fns.ts", export: "nope" } }],
    }, {
      base,
    }),
    /nope/,
  );
  await assert.rejects(loadPipeline("{}", { base }), /the description needs a nodes array/);
  assert.throws(
    () => parseDescription('{"nodes": ['),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /is not valid JSON/.test(e.message) &&
      e.cause instanceof SyntaxError,
  );
});

Deno.test({
  name: "CLI: a failing sink fails the run (no later checkpoint says done)",
  // The run must be over when main returns: nothing of it may go on in the background.
  sanitizeOps: true,
  sanitizeResources: true,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/blocker`, "a file where the sink wants a directory");
    const desc = {
      nodes: [{ name: "n", source: true }],
      sources: { n: { range: 200 } },
      sinks: { n: { files: "blocker" } },
      checkpoint: { store: "ckpt", every: { items: 1 } },
    };
    await Deno.writeTextFile(`${dir}/p.json`, JSON.stringify(desc));
    const quiet = console.error;
    const log = console.log;
    const errors: string[] = [];
    const lines: string[] = [];
    console.error = (s: string) => errors.push(s);
    console.log = (s: string) => lines.push(s);
    try {
      assert.equal(await main(["run", `${dir}/p.json`]), 1);
      assert.ok(errors.some((l) => l.startsWith("spool: the run failed:")), errors.join("\n"));
      await Deno.mkdir(`${dir}/ckpt`, { recursive: true });
      assert.equal(await main(["snapshots", "list", `${dir}/ckpt`]), 0);
      assert.ok(!lines.some((l) => l.includes('"done":true')), lines.join("\n"));
    } finally {
      console.error = quiet;
      console.log = log;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: run with checkpoints and files sink, then snapshots list/verify/prune", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fns = new URL("./fixtures/pipeline_fns.ts", import.meta.url).pathname;
    const desc = {
      nodes: [
        { name: "n", source: true },
        { name: "sq", inputs: ["n"], fn: { module: fns, export: "square" } },
      ],
      sources: { n: { range: 50 } },
      sinks: { sq: { files: "out" } },
      checkpoint: { store: "ckpt", every: { items: 10 } },
    };
    await Deno.writeTextFile(`${dir}/p.json`, JSON.stringify(desc));
    const quiet = console.error;
    const log = console.log;
    const lines: string[] = [];
    console.error = () => {};
    console.log = (s: string) => lines.push(s);
    try {
      assert.equal(await main(["run", `${dir}/p.json`]), 0);
      assert.equal(await main(["graph", `${dir}/p.json`]), 0);
      assert.ok(lines.some((l) => l.includes("n --> sq")));
      lines.length = 0;
      assert.equal(await main(["snapshots", "verify", `${dir}/ckpt`]), 0);
      assert.ok(lines.length >= 1 && lines.every((l) => l.startsWith("ok ")));
      lines.length = 0;
      assert.equal(await main(["snapshots", "prune", `${dir}/ckpt`, "--keep", "1"]), 0);
      lines.length = 0;
      assert.equal(await main(["snapshots", "list", `${dir}/ckpt`]), 0);
      assert.equal(lines.length, 1);
      assert.ok(lines[0]!.includes('"done":true'));
    } finally {
      console.error = quiet;
      console.log = log;
    }
    assert.equal(await Deno.readTextFile(`${dir}/out/000000000007.json`), "49");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
