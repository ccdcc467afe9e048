import assert from "node:assert/strict";
import { WorkerPool } from "../src/pool/mod.ts";
import { NodeError, Pipeline } from "../src/pipeline/mod.ts";

const MODULE = new URL("./fixtures/pipeline_worker.ts", import.meta.url);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function hash(x: number, salt = 0) {
  let h = x + salt;
  for (let i = 0; i < 200; i++) h = (h * 31 + i) % 1_000_003;
  return { x, h };
}

Deno.test("two pool nodes share one WorkerPool; results in order", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  const p = new Pipeline();
  p.source("s");
  p.node("left", { inputs: ["s"], pool });
  p.node("right", { inputs: ["s"], pool, consume: 3 });
  p.node("j", { inputs: ["left"], fn: (r: { h: number }) => r.h });
  const r = await p.runToCompletion({ s: range(300) });
  assert.deepEqual(r.outputs.j, range(300).map((x) => hash(x).h));
  const groups = [];
  for (let i = 0; i < 300; i += 3) groups.push(3 * i + 3);
  assert.deepEqual(r.outputs.right, groups);
});

Deno.test("pool node with chunkSize batches tasks and keeps order and dead letters", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  const p = new Pipeline();
  p.source("s");
  p.node("w", { inputs: ["s"], pool, chunkSize: 8, errors: "dead-letter" });
  const src = range(200).map((x) => (x % 50 === 7 ? -1 : x));
  const r = await p.runToCompletion({ s: src });
  assert.deepEqual(
    (r.outputs.w as { x: number }[]).map((o) => o.x),
    src.filter((x) => x !== -1),
  );
  assert.equal(r.deadLetters.length, 4);
});

Deno.test("pool node: dead-letter and fail policies", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  const mk = (errors: "fail" | "dead-letter") => {
    const p = new Pipeline();
    p.source("s");
    p.node("w", { inputs: ["s"], pool, errors });
    p.node("j", { inputs: ["s", "w"], fn: (x: number, r: { x: number }) => x === r.x });
    return p;
  };
  const src = [1, 2, -1, 3, -1, 4];
  const r = await mk("dead-letter").runToCompletion({ s: src });
  assert.deepEqual(r.outputs.j, [true, true, true, true]);
  assert.deepEqual(r.deadLetters.map((d) => [d.node, d.item]), [["w", -1], ["w", -1]]);
  await assert.rejects(mk("fail").runToCompletion({ s: src }), NodeError);
});

Deno.test("pool node with checkpoints: stop and resume gives the uninterrupted result", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2, init: { salt: 7 } });
  const dir = await Deno.makeTempDir();
  try {
    // Checkpointing forces ordered results, so the reference run is ordered too.
    const mk = (ordered = false) => {
      const p = new Pipeline({ buffer: 8 });
      p.source("s");
      p.node("w", { inputs: ["s"], pool, ordered });
      p.node("agg", {
        inputs: ["w"],
        state: { sum: 0, n: 0 },
        fn: (st: { sum: number; n: number }, r: { h: number }) => {
          st.sum = (st.sum * 7 + r.h) % 1_000_000_007;
          return ++st.n;
        },
      });
      return p;
    };
    const ref = await mk(true).runToCompletion({ s: range(500) });
    const seen = new Map<number, unknown>();
    for (let k = 0; k < 40; k++) {
      const run = mk().run({ s: range(500) }, { store: dir, checkpointEvery: { items: 17 } });
      let n = 0;
      for await (const { value, seq } of run.entries("agg")) {
        seen.set(seq, value);
        if (++n === 60) void run.stop();
      }
      await run.done;
      if (n < 60) {
        assert.deepEqual(run.state("agg"), ref.states.agg);
        break;
      }
    }
    assert.deepEqual(range(500).map((i) => seen.get(i)), ref.outputs.agg);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
