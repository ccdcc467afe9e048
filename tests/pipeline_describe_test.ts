import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../src/errors.ts";
import {
  loadPipeline,
  parseDescription,
  Pipeline,
  PipelineBuildError,
  type PipelineDescription,
} from "../src/pipeline/mod.ts";
import { main } from "../src/pipeline/cli.ts";
import { toDot, toMermaid } from "../src/pipeline/describe.ts";

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
  assert.ok(loaded.pipeline.toMermaid().includes('n3["c"]'));
  const r = await loaded.pipeline.runToCompletion(loaded.sources, { track: ["k"] });
  assert.deepEqual(r.outputs.k, [1, 2, 3, 4, 5]);
  assert.deepEqual(r.states.k, { n: 5 });
  // Same description, same graph; a directory path (trailing separator) as the base too.
  await using again = await loadPipeline(description, { base: fileURLToPath(base) });
  assert.equal(again.pipeline.toDot(), loaded.pipeline.toDot());
});

Deno.test("loader: a function reference whose export is not a function names the node", async () => {
  await assert.rejects(
    loadPipeline({
      nodes: [{ name: "n", source: true }, {
        name: "x",
        inputs: ["n"],
        fn: { module: "./pipeline_fns.ts", export: "nope" },
      }],
    }, {
      base,
    }),
    (e: unknown) =>
      e instanceof PipelineBuildError &&
      /node "x": bad export of module "\.\/pipeline_fns\.ts" .*: its export "nope" is not a function/
        .test(e.message),
  );
});

Deno.test("loader: a description without a nodes array is refused", async () => {
  await assert.rejects(
    loadPipeline("{}", { base }),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /the description needs a nodes array/.test(e.message),
  );
});

Deno.test("parseDescription: text that is not JSON is refused, the SyntaxError as cause", () => {
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
    const fns = fileURLToPath(new URL("./fixtures/pipeline_fns.ts", import.meta.url));
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
      assert.ok(lines.some((l) => l.includes(`n1["sq"]`) && l.includes("n0 --> n1")));
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

// ---- Mermaid / DOT ----

const ENTITIES: Record<string, string> = {
  quot: '"',
  "35": "#",
  lt: "<",
  gt: ">",
  amp: "&",
  "96": "`",
};

/**
 * Read a flowchart as spool writes it, refusing anything else: a header, node declarations
 * `id["label"]` (ids generated, never a name), then edges `id --> id` / `id -->|k| id`.
 * Returns the edges as [from label, to label, position] and the labels by id.
 */
function parseMermaid(text: string): { labels: Map<string, string>; edges: string[][] } {
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.shift(), "flowchart LR");
  const labels = new Map<string, string>();
  const edges: string[][] = [];
  for (const line of lines) {
    const node = /^ {2}(n\d+)\["([^"]*)"\]$/.exec(line);
    if (node) {
      assert.ok(!labels.has(node[1]!), `id declared twice: ${line}`);
      const label = node[2]!.replace(/#(\w+);/g, (_, e: string) => ENTITIES[e] ?? `#${e};`);
      labels.set(node[1]!, label);
      continue;
    }
    const edge = /^ {2}(n\d+) -->(?:\|(\d+)\|)? (n\d+)$/.exec(line);
    assert.ok(edge, `not a node or an edge line: ${JSON.stringify(line)}`);
    assert.ok(labels.has(edge[1]!) && labels.has(edge[3]!), `edge to an undeclared id: ${line}`);
    edges.push([labels.get(edge[1]!)!, labels.get(edge[3]!)!, edge[2] ?? ""]);
  }
  return { labels, edges };
}

Deno.test("Mermaid: a node named end (a Mermaid keyword) gets a generated id and a label", () => {
  const p = new Pipeline();
  p.source("start");
  p.node("end", { inputs: ["start"], fn: (x: unknown) => x });
  p.node("subgraph", { inputs: ["end"], fn: (x: unknown) => x });
  const { labels, edges } = parseMermaid(p.toMermaid());
  assert.deepEqual([...labels.values()], ["start", "end", "subgraph"]);
  assert.deepEqual(edges, [["start", "end", ""], ["end", "subgraph", ""]]);
  const dot = p.toDot();
  assert.match(dot, /^ {2}n1 \[label="end"\];$/m);
  assert.match(dot, /^ {2}n0 -> n1 \[label="0"\];$/m);
});

Deno.test("Mermaid and DOT: names with spaces, quotes and brackets stay labels", () => {
  const names = ['say "hi"', "a b", "x[1] --> y", "#35; & <b>", "back\\slash"];
  const nodes = [
    { name: names[0]!, inputs: [] },
    { name: names[1]!, inputs: [names[0]!] },
    { name: names[2]!, inputs: [names[0]!] },
    { name: names[3]!, inputs: [names[2]!, names[1]!] },
    { name: names[4]!, inputs: [names[3]!] },
  ];
  const { labels, edges } = parseMermaid(toMermaid(nodes));
  assert.deepEqual([...labels.values()], names);
  assert.deepEqual(edges, [
    [names[0], names[1], ""],
    [names[0], names[2], ""],
    [names[2], names[3], "0"],
    [names[1], names[3], "1"],
    [names[3], names[4], ""],
  ]);
  const dot = toDot(nodes);
  const dotLabels = [...dot.matchAll(/^ {2}n\d+ \[label="((?:[^"\\]|\\.)*)"\];$/gm)]
    .map((m) => m[1]!.replace(/\\(.)/g, "$1"));
  assert.deepEqual(dotLabels, names);
  assert.equal([...dot.matchAll(/^ {2}n\d+ -> n\d+ \[label="\d+"\];$/gm)].length, 5);
});

Deno.test("loader: a missing input file is named at load (a followed one is not)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/job.json`;
    await assert.rejects(
      loadPipeline({
        nodes: [{ name: "n", source: true }, { name: "m", source: true }],
        sources: { n: { lines: "missing.txt" }, m: { ndjson: "followed.ndjson", follow: true } },
      }, { base: file }),
      (e: unknown) =>
        e instanceof PipelineBuildError &&
        e.message.startsWith(
          `Cannot load the pipeline description ${file}: source "n": cannot read file "missing.txt" (${dir}/missing.txt)`,
        ) && e.cause instanceof Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: an ndjson sink's directory is created", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/job.json`;
    await Deno.writeTextFile(`${dir}/in.txt`, "a\nb\n");
    await using loaded = await loadPipeline({
      nodes: [{ name: "n", source: true }],
      sources: { n: { lines: "in.txt" } },
      sinks: { n: { ndjson: "deep/er/out.ndjson" } },
    }, { base: file });
    await loaded.pipeline.runToCompletion(loaded.sources, { sinks: loaded.sinks });
    assert.equal(await Deno.readTextFile(`${dir}/deep/er/out.ndjson`), '"a"\n"b"\n');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loader: an ndjson sink refuses an item without JSON form (no `undefined` line written)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/fns.js`,
      "export const f = (x) => (x === 'b' ? undefined : x);",
    );
    await Deno.writeTextFile(`${dir}/in.txt`, "a\nb\nc\n");
    await using loaded = await loadPipeline({
      nodes: [
        { name: "n", source: true },
        { name: "m", inputs: ["n"], fn: { module: "./fns.js", export: "f" } },
      ],
      sources: { n: { lines: "in.txt" } },
      sinks: { m: { ndjson: "out.ndjson" } },
    }, { base: `${dir}/job.json` });
    await assert.rejects(
      loaded.pipeline.runToCompletion(loaded.sources, { sinks: loaded.sinks }),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /^Cannot write to the ndjson sink "m": the value has no JSON form, received undefined/
          .test(e.message),
    );
    assert.equal(await Deno.readTextFile(`${dir}/out.ndjson`), '"a"\n');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
