/**
 * The JSON pipeline description: its JSON Schema (src/pipeline/pipeline.schema.json) and the
 * checks in code (parseDescription) must agree. The schema is checked with a real validator
 * (Ajv, through npm) against every example in docs/ and examples/ and against a corpus of good
 * and bad descriptions; a walk over both lists of keys keeps them in step.
 */
import assert from "node:assert/strict";
import Ajv from "npm:ajv@8";
import { InvalidArgumentError } from "../src/errors.ts";
import { DESCRIPTION_KEYS } from "../src/pipeline/description.ts";
import { loadPipeline, parseDescription, PipelineBuildError } from "../src/pipeline/mod.ts";
import schema from "../src/pipeline/pipeline.schema.json" with { type: "json" };

const root = new URL("../", import.meta.url);
// deno-lint-ignore no-explicit-any
const ajv = new (Ajv as any)({ allErrors: true, strict: true });
const validate = ajv.compile(schema) as ((d: unknown) => boolean) & { errors?: unknown };

function codeAccepts(d: unknown): boolean {
  try {
    parseDescription(d);
    return true;
  } catch (error) {
    if (error instanceof InvalidArgumentError) return false;
    throw error;
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;
const defs = (schema as Json).definitions;

Deno.test("schema and code list the same keys for every object of a description", () => {
  const props = (s: Json) => Object.keys(s.properties).sort();
  const sorted = (keys: readonly string[]) => [...keys].sort();
  const pairs: [string, Json, readonly string[]][] = [
    ["description", schema, DESCRIPTION_KEYS.description],
    ["source node", defs.sourceNode, DESCRIPTION_KEYS.node.source],
    ["fn node", defs.fnNode, DESCRIPTION_KEYS.node.fn],
    ["chain node", defs.chainNode, DESCRIPTION_KEYS.node.chain],
    ["pool node", defs.poolNode, DESCRIPTION_KEYS.node.pool],
    ["function", defs.functionRef, DESCRIPTION_KEYS.functionRef],
    ["chain entry", defs.chainEntry, DESCRIPTION_KEYS.chainEntry],
    ["pool", defs.pool, DESCRIPTION_KEYS.pool],
    ["nats pool", defs.natsPool, DESCRIPTION_KEYS.natsPool],
    ["nats store", defs.natsStore, DESCRIPTION_KEYS.natsStore],
    [
      "nats store reference",
      (schema as Json).properties.checkpoint.properties.store.oneOf[1],
      DESCRIPTION_KEYS.natsStoreRef,
    ],
    ["tls", defs.natsTls, DESCRIPTION_KEYS.tls],
    ["options", (schema as Json).properties.options, DESCRIPTION_KEYS.options],
    ["checkpoint", (schema as Json).properties.checkpoint, DESCRIPTION_KEYS.checkpoint],
    ["every", (schema as Json).properties.checkpoint.properties.every, DESCRIPTION_KEYS.every],
  ];
  const kinds = (variants: Json[], code: Record<string, readonly string[]>, what: string) => {
    assert.equal(variants.length, Object.keys(code).length, what);
    Object.entries(code).forEach(([kind, keys], i) => {
      pairs.push([`${what} ${kind}`, variants[i], keys]);
      assert.deepEqual(variants[i].required, [kind], `${what} ${kind}: its discriminating key`);
    });
  };
  kinds(defs.source.oneOf, DESCRIPTION_KEYS.source, "source");
  kinds(defs.sink.oneOf, DESCRIPTION_KEYS.sink, "sink");
  for (const [what, s, keys] of pairs) assert.deepEqual(props(s), sorted(keys), what);
  // Every object schema refuses unknown keys (as the code does).
  const walk = (s: Json, path: string) => {
    if (s === null || typeof s !== "object") return;
    if (s.properties) assert.equal(s.additionalProperties, false, `${path} allows any key`);
    for (const [k, v] of Object.entries(s)) walk(v, `${path}/${k}`);
  };
  walk(schema, "#");
});

/** Every JSON description in docs/*.md (```json blocks with "nodes") and examples/*.json. */
async function examples(): Promise<{ where: string; description: unknown; base: URL }[]> {
  const out: { where: string; description: unknown; base: URL }[] = [];
  for (const dir of ["docs", "examples"]) {
    for await (const e of Deno.readDir(new URL(`${dir}/`, root))) {
      const url = new URL(`${dir}/${e.name}`, root);
      if (e.name.endsWith(".json")) {
        const d = JSON.parse(await Deno.readTextFile(url));
        if (d?.nodes) out.push({ where: `${dir}/${e.name}`, description: d, base: url });
      } else if (e.name.endsWith(".md")) {
        const text = await Deno.readTextFile(url);
        for (const m of text.matchAll(/```json\n([\s\S]*?)```/g)) {
          const d = JSON.parse(m[1]!);
          if (d?.nodes) out.push({ where: `${dir}/${e.name}`, description: d, base: url });
        }
      }
    }
  }
  return out;
}

Deno.test("every example description in docs/ and examples/ passes the schema and the code", async () => {
  const found = await examples();
  assert.ok(found.some((f) => f.where === "docs/pipeline.md"), "docs/pipeline.md has an example");
  assert.ok(found.some((f) => f.where === "examples/pipeline.json"), "examples/pipeline.json");
  for (const { where, description } of found) {
    assert.ok(validate(description), `${where}: ${JSON.stringify(validate.errors)}`);
    assert.doesNotThrow(() => parseDescription(description), where);
  }
});

Deno.test("examples/pipeline.json loads and runs", async () => {
  const file = new URL("examples/pipeline.json", root);
  const d = JSON.parse(await Deno.readTextFile(file));
  delete d.checkpoint; // no store in the repository tree
  d.sinks = { total: { discard: true } };
  d.sources.numbers.range = 100;
  await using loaded = await loadPipeline(d, { base: file });
  const r = await loaded.pipeline.runToCompletion(loaded.sources, { track: ["total", "roots"] });
  assert.deepEqual(r.outputs.total!.at(-1), { n: 100, sum: 328350 + 100 });
  assert.equal(r.outputs.roots!.length, 100);
});

const good = (extra: Record<string, unknown> = {}, node: Record<string, unknown> = {}) => ({
  nodes: [
    { name: "n", source: true },
    { name: "f", inputs: ["n"], fn: { module: "./f.ts" }, ...node },
  ],
  sources: { n: { range: 3 } },
  ...extra,
});

// Structural cases: the schema and the code must give the same verdict.
const corpus: [string, unknown, boolean][] = [
  ["minimal", good(), true],
  ["$schema", good({ $schema: "./pipeline.schema.json" }), true],
  ["every source kind", {
    nodes: ["a", "b", "c", "d", "e"].map((name) => ({ name, source: true })),
    sources: {
      a: { lines: "x.txt", follow: true },
      b: { ndjson: "x.ndjson" },
      c: { range: 0 },
      d: { items: [1, "two", null] },
      e: { module: "./s.ts", export: "make" },
    },
  }, true],
  ["every sink kind", {
    nodes: ["a", "b", "c", "d"].map((name) => ({ name, source: true })),
    sinks: {
      a: { files: "out", extension: ".txt" },
      b: { ndjson: "o.ndjson" },
      c: { stdout: true },
      d: { discard: true },
    },
  }, true],
  ["every node option", {
    nodes: [
      { name: "n", source: true },
      {
        name: "p",
        inputs: ["n"],
        pool: "w",
        consume: 2,
        produce: 2,
        repeat: true,
        errors: "dead-letter",
        ordered: false,
        chunkSize: "auto",
        maxInFlight: 8,
      },
      { name: "c", inputs: ["p"], chain: [{ module: "./m.ts", args: [1] }], spawn: 2 },
      { name: "s", inputs: ["c"], fn: { module: "./m.ts", export: "x" }, state: { a: [1] } },
    ],
    pools: { w: { module: "./w.ts", size: 2, init: { k: 1 }, kind: "process", export: "w" } },
    options: { buffer: 8, sinkBuffer: 16 },
    checkpoint: { store: "ckpt", every: { items: 10, ms: 0.5 }, keep: 2 },
  }, true],
  ["no nodes", {}, false],
  ["nodes not an array", { nodes: {} }, false],
  ["not an object", [], false],
  ["unknown top key", good({ sink: {} }), false],
  ["sink typo file", good({ sinks: { f: { file: "out" } } }), false],
  ["sink with two kinds", good({ sinks: { f: { files: "o", ndjson: "o" } } }), false],
  ["stdout false", good({ sinks: { f: { stdout: false } } }), false],
  ["every msec", good({ checkpoint: { store: "c", every: { msec: 500 } } }), false],
  ["every empty", good({ checkpoint: { store: "c", every: {} } }), false],
  ["every ms 0", good({ checkpoint: { store: "c", every: { ms: 0 } } }), false],
  ["checkpoint without store", good({ checkpoint: { keep: 2 } }), false],
  ["fn 1", good({}, { fn: 1 }), false],
  ["fn without module", good({}, { fn: { export: "x" } }), false],
  ["fn unknown key", good({}, { fn: { module: "./f.ts", exports: "x" } }), false],
  ["consume 0", good({}, { consume: 0 }), false],
  ["spawn 1.5", good({}, { spawn: 1.5 }), false],
  ["errors typo", good({}, { errors: "deadletter" }), false],
  ["node key typo", good({}, { input: ["n"] }), false],
  ["ordered on a fn node", good({}, { ordered: true }), false],
  ["fn and chain", good({}, { chain: [{ module: "./f.ts" }] }), false],
  [
    "no inputs",
    { nodes: [{ name: "n", source: true }, { name: "f", fn: { module: "m" } }] },
    false,
  ],
  ["source false", { nodes: [{ name: "n", source: false }] }, false],
  ["source with inputs", { nodes: [{ name: "n", source: true, inputs: [] }] }, false],
  ["empty chain", good({}, { fn: undefined, chain: [] }), false],
  ["range -1", good({ sources: { n: { range: -1 } } }), false],
  ["items not array", good({ sources: { n: { items: 3 } } }), false],
  ["source kind typo", good({ sources: { n: { line: "x" } } }), false],
  ["pool without module", {
    nodes: [{ name: "n", source: true }],
    pools: { w: { size: 2 } },
  }, false],
  ["pool kind typo", {
    nodes: [{ name: "n", source: true }],
    pools: { w: { module: "w", kind: "thread" } },
  }, false],
  ["chunkSize 0", {
    nodes: [{ name: "n", source: true }, { name: "p", inputs: ["n"], pool: "w", chunkSize: 0 }],
    pools: { w: { module: "w" } },
  }, false],
  ["options typo", good({ options: { buffers: 2 } }), false],
  ["nats pool with credentials by reference", natsPool({ tokenEnv: "SPOOL_NATS_TOKEN" }), true],
  [
    "nats pool with user and passEnv, tls",
    natsPool({
      user: "spool",
      passEnv: "SPOOL_NATS_PASS",
      tls: { caFile: "ca.pem", certFile: "c.pem", keyFile: "k.pem" },
    }),
    true,
  ],
  ["nats pool with a token in the file", natsPool({ token: "s3cret" }), false],
  ["nats pool with a password in the file", natsPool({ user: "u", pass: "s3cret" }), false],
  ["nats pool user without passEnv", natsPool({ user: "u" }), false],
  ["nats pool tokenEnv not a variable name", natsPool({ tokenEnv: "A-B" }), false],
  ["tls cert without key", natsPool({ tls: { certFile: "c.pem" } }), false],
  ["nats store", natsStore({ tokenEnv: "T" }), true],
  ["nats store without bucket", natsStore({ bucket: undefined }), false],
  ["nats store with a token in the file", natsStore({ token: "s3cret" }), false],
  ["nats store key typo", good({ checkpoint: { store: { nat: {} } } }), false],
];

/** A description with a kind "nats" pool whose nats object has `extra`. */
function natsPool(extra: Record<string, unknown>): unknown {
  return {
    nodes: [{ name: "n", source: true }, { name: "p", inputs: ["n"], pool: "w" }],
    pools: {
      w: { module: "w", kind: "nats", nats: { servers: "nats://h:4222", pool: "p", ...extra } },
    },
  };
}

/** A description checkpointing to a NATS bucket whose nats object has `extra`. */
function natsStore(extra: Record<string, unknown>): unknown {
  return good({
    checkpoint: { store: { nats: { servers: ["nats://h:4222"], bucket: "b", ...extra } } },
  });
}

Deno.test("schema and code agree on a corpus of good and bad descriptions", () => {
  for (const [what, d, ok] of corpus) {
    const clean = JSON.parse(JSON.stringify(d));
    assert.equal(validate(clean), ok, `schema on ${what}: ${JSON.stringify(validate.errors)}`);
    assert.equal(codeAccepts(clean), ok, `code on ${what}`);
  }
});

/** What a schema cannot say, checked in code: one case per rule (names, inputs, pools, sinks). */
const codeOnlyCases: [string, unknown, RegExp][] = [
  [
    "two ways to authenticate",
    natsPool({ tokenEnv: "T", credsFile: "x.creds" }),
    /pools\.w\.nats: takes at most one way to authenticate \(tokenEnv, user \+ passEnv, credsFile\)/,
  ],
  ["input not listed before", {
    nodes: [{ name: "f", inputs: ["n"], fn: { module: "m" } }, { name: "n", source: true }],
  }, /nodes\.f\.inputs\[0\]: must name a node listed before this one/],
  [
    "duplicate name",
    { nodes: [{ name: "n", source: true }, { name: "n", source: true }] },
    /nodes\.n\.name: another node has this name/,
  ],
  ["unknown pool", {
    nodes: [{ name: "n", source: true }, { name: "p", inputs: ["n"], pool: "q" }],
    pools: { w: { module: "w" } },
  }, /nodes\.p\.pool: must name a pool of "pools" \(pools: w\)/],
  [
    "sink name typo",
    good({ sinks: { F: { files: "out" } } }),
    /sinks\.F: must name a sink node, one no other node reads \(sinks: f\)/,
  ],
  [
    "source name typo",
    good({ sources: { m: { range: 3 } } }),
    /sources\.m: must name a source node \(source nodes: n\)/,
  ],
];
for (const [what, d, message] of codeOnlyCases) {
  Deno.test(`code, not the schema, refuses a description with ${what}`, () => {
    assert.ok(validate(d), `the schema accepts ${what}`);
    assert.throws(() => parseDescription(d), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, what);
      assert.match(e.message, message, what);
      return true;
    });
  });
}

Deno.test("a typo of a sink's key names the key and the accepted ones", () => {
  assert.throws(
    () => parseDescription(JSON.stringify(good({ sinks: { f: { file: "out" } } }))),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      e.message ===
        'Cannot load the pipeline description: sinks.f: unknown key "file" (known: files, extension, ndjson, stdout, discard), received {"file":"out"}',
  );
});

Deno.test("a typo of a checkpoint.every key names the key and the accepted ones", () => {
  assert.throws(
    () => parseDescription(good({ checkpoint: { store: "c", every: { msec: 500 } } })),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /^Cannot load the pipeline description: checkpoint\.every: unknown key "msec" \(known: items, ms\)/
        .test(e.message),
  );
});

Deno.test("fn: 1 says fn must be a function, naming the description file", () => {
  assert.throws(
    () => parseDescription(good({}, { fn: 1 }), { file: "/jobs/p.json" }),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /^Cannot load the pipeline description \/jobs\/p\.json: nodes\.f\.fn: must be a function/
        .test(e.message) &&
      e.received === 1,
  );
});

Deno.test("every problem of a description is reported at once", () => {
  const d = {
    nodes: [
      { name: "n", source: true },
      { name: "f", inputs: ["n"], fn: 1, consume: 0 },
      { name: "g", inputs: ["nope"], fn: { module: "m" }, errors: "ignore" },
    ],
    sinks: { f: { file: "out" } },
    checkpoint: { store: "c", every: { msec: 500 } },
  };
  assert.throws(() => parseDescription(d), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError);
    assert.match(e.message, /^Cannot load the pipeline description: 6 problems: /);
    const paths = (e.received as { path: string }[]).map((p) => p.path);
    assert.deepEqual(paths, [
      "nodes.f.fn",
      "nodes.f.consume",
      "nodes.g.inputs[0]",
      "nodes.g.errors",
      "sinks.f",
      "checkpoint.every",
    ]);
    return true;
  });
});

Deno.test("missing function modules are one PipelineBuildError naming each and the description file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/job.json`;
    const d = {
      nodes: [
        { name: "n", source: true },
        { name: "f", inputs: ["n"], fn: { module: "./missing.ts" } },
        { name: "g", inputs: ["n"], chain: [{ module: "./also-missing.ts" }] },
      ],
    };
    await assert.rejects(
      loadPipeline(d, { base: file }),
      (e: unknown) => {
        assert.ok(e instanceof PipelineBuildError);
        assert.ok(
          e.message.startsWith(`Cannot load the pipeline description ${file}: 2 problems:`),
        );
        assert.ok(
          e.message.includes(`node "f": cannot import module "./missing.ts" (${dir}/missing.ts)`),
        );
        assert.ok(e.message.includes(`node "g": cannot import module "./also-missing.ts"`));
        assert.ok(e.cause instanceof AggregateError);
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing pool module is a PipelineBuildError naming the pool and the description file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/job.json`;
    await assert.rejects(
      loadPipeline({ nodes: [{ name: "n", source: true }], pools: { w: { module: "./w.ts" } } }, {
        base: file,
      }),
      (e: unknown) =>
        e instanceof PipelineBuildError &&
        e.message.includes(`pool "w": cannot import module "./w.ts" (${dir}/w.ts)`) &&
        e.message.includes(file),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
