/** Sweep rows of the pipeline area (graph, pipeline, run, node helpers, JSON description). */

import {
  fileSink,
  Graph,
  joinInputs,
  jsonDecode,
  jsonEncode,
  lineSource,
  loadPipeline,
  ndjsonSource,
  parseDescription,
  passInput,
  Pipeline,
  PipelineRun,
  selectInputs,
  zipInputs,
} from "../../mod.ts";
import { consumeSink } from "../../src/pipeline/run.ts";
import {
  argCases,
  type Case,
  type Ctx,
  dirPathCases,
  filePathCases,
  int,
  num,
  optionCases,
  returns,
  type Row,
  sourceCases,
  userError,
  wrongTypes,
} from "./harness.ts";

/** A one-source, one-node pipeline. */
function simple(): Pipeline {
  const p = new Pipeline();
  p.source("s");
  p.node("up", { inputs: ["s"], fn: (x: unknown) => x });
  return p;
}

/** Run `simple()` to completion with `sources` and `options`. */
function complete(sources: unknown, options?: unknown) {
  return simple().runToCompletion(sources as never, options as never);
}

/** `loadPipeline(...)`, whose pools are closed after the case when it is (wrongly) accepted. */
function load(ctx: Ctx, input: unknown, options?: unknown) {
  return loadPipeline(input as never, options as never).then((loaded) => {
    ctx.defer(() => loaded.close());
    return loaded;
  });
}

/** A run of `simple()` on [1, 2, 3], stopped after the case. */
function started(ctx: Ctx): PipelineRun {
  const run = simple().run({ s: [1, 2, 3] });
  ctx.defer(async () => {
    // A run whose outputs nobody reads does not stop: drain them while stopping.
    const drain = (async () => {
      for await (const _ of run.outputs.up!) { /* drop */ }
    })().catch(() => {});
    await run.stop().catch(() => {});
    await drain;
  });
  return run;
}

const nodeSpecs: [string, unknown][] = [
  ["42", 42],
  ["{} (no fn, chain, pool or state)", {}],
  ["{ inputs: 42, fn }", { inputs: 42, fn: () => 1 }],
  ["{ inputs: [], fn } (no input)", { inputs: [], fn: () => 1 }],
  ['{ inputs: ["nope"], fn }', { inputs: ["nope"], fn: () => 1 }],
  ["{ inputs, fn: 42 }", { inputs: ["s"], fn: 42 }],
  ["{ inputs, fn, fnn } (unknown key)", { inputs: ["s"], fn: () => 1, fnn: 1 }],
  ["{ inputs, chain: [] }", { inputs: ["s"], chain: [] }],
  ["{ inputs, chain: [42] }", { inputs: ["s"], chain: [42] }],
  ["{ inputs, pool: 42 }", { inputs: ["s"], pool: 42 }],
  ['{ inputs, fn, errors: "ignore" }', { inputs: ["s"], fn: () => 1, errors: "ignore" }],
  ['{ inputs, fn, repeat: "yes" }', { inputs: ["s"], fn: () => 1, repeat: "yes" }],
  ["{ inputs, fn, fn and chain }", { inputs: ["s"], fn: () => 1, chain: [() => 1] }],
];
for (const key of ["consume", "produce", "spawn"]) {
  for (const [shown, v] of [["0", 0], ["1.5", 1.5], ["NaN", NaN], ['"2"', "2"]] as const) {
    nodeSpecs.push([`{ inputs, fn, ${key}: ${shown} }`, { inputs: ["s"], fn: () => 1, [key]: v }]);
  }
}

const descriptions: [string, unknown][] = [
  ["42", 42],
  ['"{bad json"', "{bad json"],
  ['"" (empty text)', ""],
  ["{} (no nodes)", {}],
  ["{ nodes: 42 }", { nodes: 42 }],
  ["{ nodes: [{}] }", { nodes: [{}] }],
  ["{ nodes: [{ name: 42 }] }", { nodes: [{ name: 42, source: true }] }],
  ["{ nodes, nodess } (unknown key)", { nodes: [{ name: "s", source: true }], nodess: [] }],
  ["{ nodes: [{ name, source, sourcee }] }", {
    nodes: [{ name: "s", source: true, sourcee: true }],
  }],
  ["{ nodes: [{ name, inputs: [nope], fn }] }", {
    nodes: [{ name: "n", inputs: ["nope"], fn: { module: "./x.ts" } }],
  }],
  ["{ nodes, pools: { p: { module: 42 } } }", {
    nodes: [{ name: "s", source: true }],
    pools: { p: { module: 42 } },
  }],
  ["{ nodes, pools: { p: { module, size: 0 } } }", {
    nodes: [{ name: "s", source: true }],
    pools: { p: { module: "./w.ts", size: 0 } },
  }],
  ["{ nodes, sinks: { s: { bogus: 1 } } }", {
    nodes: [{ name: "s", source: true }],
    sinks: { s: { bogus: 1 } },
  }],
  ["{ nodes, options: { buffer: 0 } }", {
    nodes: [{ name: "s", source: true }],
    options: { buffer: 0 },
  }],
  ["{ nodes, checkpoint: { store: 42 } }", {
    nodes: [{ name: "s", source: true }],
    checkpoint: { store: 42 },
  }],
  ["{ nodes, checkpoint: { store, every: { items: 0 } } }", {
    nodes: [{ name: "s", source: true }],
    checkpoint: { store: "/tmp/x", every: { items: 0 } },
  }],
];

function resumableSourceCases(
  label: string,
  make: (path: string, options?: unknown) => (position: number) => AsyncIterable<unknown>,
): Case[] {
  return [
    ...filePathCases((p) => make(p as string)(0), `${label}(path)`),
    ...optionCases(
      (o, ctx) => make(ctx.file, o)(0),
      { follow: "bool", signal: "signal", encoding: "str", pollMs: num(1), chunkSize: int(1) },
      {},
      `${label} options`,
    ),
    ...argCases(`${label}(path)(position)`, int(0), (n, ctx) => make(ctx.file)(n as number)),
  ];
}

export const pipelineRows: Row[] = [
  {
    export: "Graph",
    area: "pipeline",
    cases: [
      ...wrongTypes("addNode(name)", (n) => new Graph().addNode(n as string), [
        ['""', ""],
        ["42", 42],
        ["undefined", undefined],
      ]),
      ...wrongTypes("addNode(name, inputs)", (i) => new Graph().addNode("a", i as never), [
        ["42", 42],
        ['"b"', "b"],
        ['["nope"]', ["nope"]],
      ]),
      { name: "addNode: a duplicate name", run: () => new Graph().addNode("a").addNode("a") },
      { name: "addEdge: an unknown node", run: () => new Graph().addNode("a").addEdge("a", "b") },
      {
        name: "addEdge: a cycle",
        run: () => new Graph().addNode("a").addNode("b", ["a"]).addEdge("b", "a"),
      },
      { name: "addEdge: a self-loop", run: () => new Graph().addNode("a").addEdge("a", "a") },
      {
        name: "removeEdge: no such edge",
        run: () => new Graph().addNode("a").removeEdge("a", "a"),
      },
      { name: "removeNode: an unknown node", run: () => new Graph().removeNode("nope") },
      ...optionCases(
        (o) => new Graph().addNode("a").removeNode("a", o as never),
        { force: "bool" },
        {},
        "removeNode options",
      ),
      { name: "inputsOf: an unknown node", run: () => new Graph().inputsOf("nope") },
      { name: "reaches: an unknown node", run: () => new Graph().reaches("a", "b") },
    ],
  },
  {
    export: "Pipeline",
    area: "pipeline",
    cases: [
      ...optionCases((o) => new Pipeline(o as never), {
        buffer: int(1),
        sinkBuffer: int(1),
        logger: "fn",
        fuse: "bool",
      }),
      ...wrongTypes("source(name)", (n) => new Pipeline().source(n as string), [
        ['""', ""],
        ["42", 42],
      ]),
      { name: "source: a duplicate name", run: () => simple().source("s") },
      ...wrongTypes(
        "node(name)",
        (n) => simple().node(n as string, { inputs: ["s"], fn: () => 1 }),
        [
          ['""', ""],
          ["42", 42],
          ['"up" (a duplicate)', "up"],
        ],
      ),
      ...wrongTypes("node(name, spec)", (s) => {
        const p = new Pipeline();
        p.source("s");
        return p.node("n", s as never);
      }, nodeSpecs),
      ...optionCases(
        (o) => simple().remove("up", o as never),
        { force: "bool" },
        {},
        "remove options",
      ),
      { name: "remove: an unknown node", run: () => simple().remove("nope") },
      { name: "rate: an unknown node", run: () => simple().rate("nope") },
      ...wrongTypes("run(sources)", (s) => complete(s), [
        ["42", 42],
        ["undefined", undefined],
        ["{} (source s missing)", {}],
        ["{ s, t } (unknown source)", { s: [1], t: [1] }],
        ["{ s: 42 }", { s: 42 }],
      ]),
      ...optionCases(
        (o) => complete({ s: [1] }, o),
        { signal: "signal", keep: int(1), stateName: "str", logger: "fn" },
        {},
        "run options",
      ),
      ...wrongTypes("run options.store", (s) => complete({ s: [1] }, { store: s }), [
        ["42", 42],
        ['""', ""],
      ]),
      ...dirPathCases((p) => complete({ s: [1] }, { store: p }), "run options.store").slice(2),
      ...optionCases(
        (o) => complete({ s: [1] }, { checkpointEvery: o }),
        { items: int(1), ms: num(0) },
        {},
        "run options.checkpointEvery",
      ),
      ...wrongTypes("runToCompletion options.sinks", (s) => complete({ s: [1] }, { sinks: s }), [
        ["42", 42],
        ["{ nope: fn } (unknown sink)", { nope: () => {} }],
        ["{ up: 42 }", { up: 42 }],
      ]),
      ...wrongTypes("runToCompletion options.track", (t) => complete({ s: [1] }, { track: t }), [
        ["42", 42],
        ['["nope"]', ["nope"]],
      ]),
      ...sourceCases((s) => complete({ s }), "run source"),
      (() => {
        const err = userError("source factory");
        return {
          name: "run source: a factory that throws (the user's error)",
          run: () =>
            complete({
              s: () => {
                throw err;
              },
            }),
          expect: { user: err },
        };
      })(),
      {
        name: "run source: a factory that returns 42",
        run: () => complete({ s: () => 42 }),
      },
      (() => {
        const err = userError("node fn");
        return {
          name: "node fn throws (the user's error or a NodeError with it as cause)",
          run: () => {
            const p = new Pipeline();
            p.source("s");
            p.node("n", {
              inputs: ["s"],
              fn: () => {
                throw err;
              },
            });
            return p.runToCompletion({ s: [1] });
          },
          expect: { user: err },
        };
      })(),
    ],
  },
  {
    export: "PipelineRun",
    area: "pipeline",
    cases: [
      ...wrongTypes("new PipelineRun(plan)", (p) => new PipelineRun(p as never, {}, {}), [
        ["42", 42],
        ["{}", {}],
      ]),
      ...optionCases(
        (o, ctx) => started(ctx).wait(o as never),
        { timeoutMs: num(0) },
        {},
        "wait options",
      ),
      { name: "state: an unknown node", run: (ctx) => started(ctx).state("nope") },
      { name: "entries: an unknown sink", run: (ctx) => started(ctx).entries("nope") },
      { name: "consume: an unknown sink", run: (ctx) => consumeSink(started(ctx), "nope") },
      { name: "consume(sink, 42)", run: (ctx) => consumeSink(started(ctx), "up", 42 as never) },
    ],
  },
  {
    export: "parseDescription",
    area: "pipeline",
    cases: wrongTypes("input", (d) => parseDescription(d), descriptions),
  },
  {
    export: "loadPipeline",
    area: "pipeline",
    cases: [
      ...wrongTypes("input", (d, ctx) => load(ctx, d), descriptions.slice(0, 6)),
      ...optionCases(
        (o, ctx) => load(ctx, { nodes: [{ name: "s", source: true }] }, o),
        {},
      ),
      ...wrongTypes(
        "options.base",
        (b, ctx) => load(ctx, { nodes: [{ name: "s", source: true }] }, { base: b }),
        [
          ["42", 42],
          ['""', ""],
        ],
      ),
      {
        name: "a node fn module that does not exist",
        run: (ctx) =>
          load(ctx, {
            nodes: [{ name: "s", source: true }, {
              name: "n",
              inputs: ["s"],
              fn: { module: `file://${ctx.missing}.ts` },
            }],
          }),
      },
      {
        name: "a node fn export that does not exist",
        run: (ctx) =>
          load(ctx, {
            nodes: [{ name: "s", source: true }, {
              name: "n",
              inputs: ["s"],
              fn: {
                module: "data:application/javascript,export const f = (x) => x;",
                export: "nope",
              },
            }],
          }),
      },
    ],
  },
  {
    export: "fileSink",
    area: "pipeline",
    cases: [
      ...dirPathCases((d) => fileSink(d as string)("x", { seq: 0 }), "dir"),
      ...optionCases((o, ctx) => fileSink(ctx.fresh("sink"), o as never)("x", { seq: 0 }), {
        encode: "fn",
        extension: "string", // "" is valid: files without an extension
      }),
      {
        name: "options.extension: a path separator",
        run: (ctx) => fileSink(ctx.fresh("sink"), { extension: "/../x" })("x", { seq: 0 }),
      },
      ...wrongTypes(
        "sink(item, { seq })",
        (seq, ctx) => fileSink(ctx.fresh("sink"))("x", { seq: seq as number }),
        [
          ["-1", -1],
          ["1.5", 1.5],
          ["NaN", NaN],
          ["undefined", undefined],
        ],
      ),
      {
        name: "sink(item): encode returns 42",
        run: (ctx) => fileSink(ctx.fresh("sink"), { encode: () => 42 as never })("x", { seq: 0 }),
      },
      {
        name: "sink(undefined) (no JSON form)",
        run: (ctx) => fileSink(ctx.fresh("sink"))(undefined, { seq: 0 }),
      },
    ],
  },
  {
    export: "lineSource",
    area: "pipeline",
    cases: resumableSourceCases("lineSource", (p, o) => lineSource(p, o as never)),
  },
  {
    export: "ndjsonSource",
    area: "pipeline",
    cases: resumableSourceCases("ndjsonSource", (p, o) => ndjsonSource(p, o as never)),
  },
  {
    export: "passInput",
    area: "pipeline",
    cases: argCases("index", int(0), (i) => passInput(i as number)),
  },
  {
    export: "selectInputs",
    area: "pipeline",
    cases: argCases("indices[1]", int(0), (i) => selectInputs(0, i as number)),
  },
  {
    export: "joinInputs",
    area: "pipeline",
    cases: wrongTypes("separator", (s) => joinInputs(s as string), [["42", 42], ["null", null]]),
  },
  {
    export: "jsonDecode",
    area: "pipeline",
    cases: [
      { name: 'decode("{bad")', run: () => jsonDecode()("{bad") },
      { name: "decode(42)", run: () => jsonDecode()(42 as never) },
      { name: "decode(undefined)", run: () => jsonDecode()(undefined as never) },
    ],
  },
  {
    export: "jsonEncode",
    area: "pipeline",
    cases: [
      { name: "encode(undefined)", run: () => jsonEncode()(undefined) },
      { name: "encode(1n)", run: () => jsonEncode()(1n) },
      {
        name: "encode(a cycle)",
        run: () => {
          const a: Record<string, unknown> = {};
          a.a = a;
          return jsonEncode()(a);
        },
      },
    ],
  },
  {
    export: "zipInputs",
    area: "pipeline",
    note: "takes no argument; the node function it returns takes any inputs",
    cases: [returns("zipInputs()(1, 2)", () => zipInputs()(1, 2))],
  },
];
