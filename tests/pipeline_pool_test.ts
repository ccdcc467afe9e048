import assert from "node:assert/strict";
import { TaskError, WorkerPool } from "../src/pool/mod.ts";
import { HoleError, NodeError, Pipeline } from "../src/pipeline/mod.ts";
import { AbortedError } from "../src/errors.ts";

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
  // Which items: the four -1 inputs, at their positions, with the worker's error.
  assert.deepEqual(r.deadLetters.map((d) => [d.node, d.position, d.count, d.item]), [
    ["w", 7, 1, -1],
    ["w", 57, 1, -1],
    ["w", 107, 1, -1],
    ["w", 157, 1, -1],
  ]);
  for (const d of r.deadLetters) assert.match(String((d.error as Error).message), /minus one/);
  // Batched: every input was a task, sent in far fewer messages than tasks.
  const insights = pool.insights();
  const tasks = insights.reduce((a, w) => a + w.tasks, 0);
  const chunks = insights.reduce((a, w) => a + w.chunks, 0);
  assert.equal(tasks, 200);
  assert.ok(chunks * 4 <= tasks, `${chunks} chunks for ${tasks} tasks`);
});

/** `s -> w (pool) -> j(s, w)`: j checks that each result belongs to its input. */
function poolThenZip(pool: WorkerPool, errors: "fail" | "dead-letter"): Pipeline {
  const p = new Pipeline();
  p.source("s");
  p.node("w", { inputs: ["s"], pool, errors });
  p.node("j", { inputs: ["s", "w"], fn: (x: number, r: { x: number }) => x === r.x });
  return p;
}
const WITH_FAILURES = [1, 2, -1, 3, -1, 4];

Deno.test("pool node with errors: dead-letter: failed inputs become holes; zips stay aligned", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  const r = await poolThenZip(pool, "dead-letter").runToCompletion({ s: WITH_FAILURES });
  assert.deepEqual(r.outputs.j, [true, true, true, true]);
  // w's failures, then j's items zipped with w's holes (dead-lettered with the reason).
  assert.deepEqual(r.deadLetters.map((d) => [d.node, d.position, d.item]), [
    ["w", 2, -1],
    ["j", 2, [-1, undefined]],
    ["w", 4, -1],
    ["j", 4, [-1, undefined]],
  ]);
});

Deno.test("pool node with errors: fail rejects the run with NodeError", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  await assert.rejects(poolThenZip(pool, "fail").runToCompletion({ s: WITH_FAILURES }), NodeError);
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

Deno.test("a pool node's failure reaches the user as a function node's does (NodeError, the user's error as cause)", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  const local = (x: number) => {
    if (x === -1) throw new Error("minus one");
    return hash(x);
  };
  const src = [1, 2, -1, 3];
  const failure = async (spec: Record<string, unknown>) => {
    const p = new Pipeline();
    p.source("s");
    p.node("w", { inputs: ["s"], ...spec } as never);
    try {
      await p.runToCompletion({ s: src });
    } catch (e) {
      return e;
    }
    assert.fail("the run should have failed");
  };
  const fromFn = await failure({ fn: local });
  const fromPool = await failure({ pool });
  for (const e of [fromFn, fromPool]) {
    assert.ok(e instanceof NodeError);
    assert.equal(e.node, "w");
    assert.equal(e.position, 2);
    assert.ok(e.cause instanceof Error && !(e.cause instanceof TaskError));
    assert.equal(e.cause.message, "minus one");
    assert.equal(e.cause.name, "Error");
  }
  const letters = async (spec: Record<string, unknown>) => {
    const p = new Pipeline();
    p.source("s");
    p.node("w", { inputs: ["s"], errors: "dead-letter", ...spec } as never);
    return (await p.runToCompletion({ s: src })).deadLetters;
  };
  for (const dl of [await letters({ fn: local }), await letters({ pool })]) {
    assert.equal(dl.length, 1);
    assert.deepEqual([dl[0]!.node, dl[0]!.position, dl[0]!.count, dl[0]!.item], ["w", 2, 1, -1]);
    assert.ok(dl[0]!.error instanceof Error && !(dl[0]!.error instanceof TaskError));
    assert.equal((dl[0]!.error as Error).message, "minus one");
  }
});

Deno.test("pool node: consume groups keep their good items; a zip with a hole dead-letters the partner", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  for (const ordered of [true, false]) {
    const p = new Pipeline({ buffer: 2 });
    p.source("s");
    p.node("parse", {
      inputs: ["s"],
      errors: "dead-letter",
      fn: (x: number) => {
        if (x % 10 === 4) throw new RangeError(`bad ${x}`);
        return x;
      },
    });
    // The worker sums an array input (+ salt 0).
    p.node("sum", { inputs: ["parse"], pool, consume: 3, ordered });
    p.node("pair", { inputs: ["parse", "s"], pool, ordered });
    const r = await p.runToCompletion({ s: range(30) });
    const expected: number[] = [];
    for (let i = 0; i < 30; i += 3) {
      expected.push([i, i + 1, i + 2].filter((x) => x % 10 !== 4).reduce((a, b) => a + b, 0));
    }
    const sums = r.outputs.sum as number[];
    const byValue = (a: number, b: number) => a - b;
    assert.deepEqual(
      ordered ? sums : [...sums].sort(byValue),
      ordered ? expected : expected.sort(byValue),
    );
    const pairs = (r.outputs.pair as { x: number }[]).map((o) => o.x);
    assert.deepEqual(
      ordered ? pairs : [...pairs].sort((a, b) => a - b),
      range(30).filter((x) => x % 10 !== 4),
    );
    const zips = r.deadLetters.filter((d) => d.node === "pair");
    assert.deepEqual(zips.map((d) => [d.position, d.item]), [[4, [undefined, 4]], [
      14,
      [undefined, 14],
    ], [24, [undefined, 24]]]);
    for (const d of zips) assert.ok(d.error instanceof HoleError);
  }
});

Deno.test("pool node: a hole in gives produce holes (repeat), zips downstream stay aligned", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  const p = new Pipeline();
  p.source("s");
  p.node("parse", {
    inputs: ["s"],
    errors: "dead-letter",
    fn: (x: number) => {
      if (x === 2) throw new Error("two");
      return x;
    },
  });
  p.node("w", { inputs: ["parse"], pool, produce: 2, repeat: true });
  p.node("twice", { inputs: ["s"], produce: 2, fn: (x: number) => [x, x] });
  p.node("j", { inputs: ["w", "twice"], fn: (r: { x: number }, x: number) => r.x === x });
  const r = await p.runToCompletion({ s: range(5) });
  assert.deepEqual(r.outputs.j, [true, true, true, true, true, true, true, true]);
  assert.deepEqual(r.deadLetters.map((d) => [d.node, d.position]), [
    ["parse", 2],
    ["j", 4],
    ["j", 5],
  ]);
});

Deno.test("pool node: barriers between the items of a chunk (chunkSize > 1) keep exactly-once across stop and resume", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2, init: { salt: 3 } });
  const dir = await Deno.makeTempDir();
  try {
    const mk = () => {
      const p = new Pipeline({ buffer: 4 });
      p.source("s");
      // A checkpoint every 5 items, chunks of 8: barriers fall inside chunks.
      p.node("w", { inputs: ["s"], pool, chunkSize: 8, maxInFlight: 16, errors: "dead-letter" });
      p.node("agg", {
        inputs: ["w"],
        state: { sum: 0, n: 0 },
        fn: (st: { sum: number; n: number }, r: { h: number }) => {
          st.sum = (st.sum * 7 + r.h) % 1_000_000_007;
          return [++st.n, st.sum];
        },
      });
      return p;
    };
    const src = range(400).map((x) => (x % 61 === 5 ? -1 : x));
    const ref = await mk().runToCompletion({ s: src });
    // The uninterrupted run's outputs by sequence number (a hole takes one and is not read).
    const expected = new Map<number, unknown>();
    const refRun = mk().run({ s: src });
    for await (const { value, seq } of refRun.entries("agg")) expected.set(seq, value);
    await refRun.done;
    const deliveries = new Map<number, unknown[]>();
    const letters: unknown[] = [];
    let runs = 0;
    for (; runs < 40; runs++) {
      const run = mk().run({ s: src }, { store: dir, checkpointEvery: { items: 5 } });
      let n = 0;
      for await (const { value, seq } of run.entries("agg")) {
        deliveries.set(seq, [...(deliveries.get(seq) ?? []), value]);
        if (++n === 45) void run.stop();
      }
      await run.done;
      letters.push(...run.deadLetters.map((d) => [d.position, d.count, d.item]));
      if (n < 45) {
        assert.deepEqual(run.state("agg"), ref.states.agg);
        break;
      }
    }
    assert.ok(runs > 2, `${runs} resumes`);
    // Every output delivered exactly once, equal to the uninterrupted run's.
    assert.equal(expected.size, (ref.outputs.agg as unknown[]).length);
    assert.deepEqual([...deliveries.keys()].sort((a, b) => a - b), [...expected.keys()]);
    for (const [seq, value] of expected) assert.deepEqual(deliveries.get(seq), [value]);
    // Each failed input reported once, by the run that processed it.
    assert.deepEqual(letters, ref.deadLetters.map((d) => [d.position, d.count, d.item]));
    assert.deepEqual(letters, [[5, 1, -1], [66, 1, -1], [127, 1, -1], [188, 1, -1], [249, 1, -1], [
      310,
      1,
      -1,
    ], [371, 1, -1]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pool node: dead letters carry their input and position with chunkSize and ordered: false", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  const p = new Pipeline();
  p.source("s");
  // Upstream holes (a string fails to parse) shift nothing: positions count every slot.
  p.node("parse", {
    inputs: ["s"],
    errors: "dead-letter",
    fn: (x: number | string) => {
      if (typeof x === "string") throw new TypeError(`not a number: ${x}`);
      return x;
    },
  });
  p.node("w", { inputs: ["parse"], pool, chunkSize: 4, ordered: false, errors: "dead-letter" });
  // Two inputs zipped (spread): a failed call's input is its argument list.
  p.node("pair", {
    inputs: ["parse", "s"],
    pool,
    chunkSize: 3,
    ordered: false,
    errors: "dead-letter",
  });
  const src = range(40).map((x) => (x % 10 === 4 ? `bad${x}` : x % 13 === 7 ? -1 : x));
  const r = await p.runToCompletion({ s: src });
  const good = src.filter((x) => typeof x === "number" && x !== -1) as number[];
  const byX = (a: { x: number }, b: { x: number }) => a.x - b.x;
  assert.deepEqual((r.outputs.w as { x: number }[]).sort(byX).map((o) => o.x), good);
  assert.deepEqual((r.outputs.pair as { x: number }[]).sort(byX).map((o) => o.x), good);
  const of = (node: string) =>
    r.deadLetters.filter((d) => d.node === node).sort((a, b) => a.position - b.position)
      .map((d) => [d.position, d.count, d.item, (d.error as Error).message]);
  assert.deepEqual(of("w"), [
    [7, 1, -1, "minus one"],
    [20, 1, -1, "minus one"],
    [33, 1, -1, "minus one"],
  ]);
  assert.deepEqual(of("pair").filter((d) => d[3] === "minus one"), [
    [7, 1, [-1, -1], "minus one"],
    [20, 1, [-1, -1], "minus one"],
    [33, 1, [-1, -1], "minus one"],
  ]);
});

Deno.test("pool node: an abort mid-run ends the map and closes the source; the pool stays usable", async () => {
  await using pool = await WorkerPool.start({ module: MODULE, size: 2 });
  let closed = false;
  let read = 0;
  async function* endless() {
    try {
      for (let i = 0;; i++) {
        read++;
        yield i;
        if (i % 16 === 0) await new Promise((r) => setTimeout(r, 0));
      }
    } finally {
      closed = true;
    }
  }
  const p = new Pipeline();
  p.source("s");
  p.node("w", { inputs: ["s"], pool, chunkSize: 4 });
  const abort = new AbortController();
  const run = p.run({ s: endless() }, { signal: abort.signal });
  let n = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of run.outputs.w!) if (++n === 50) abort.abort();
    })(),
    AbortedError,
  );
  await assert.rejects(run.done, AbortedError);
  assert.ok(closed, "the source was closed");
  const readAtEnd = read;
  // Nothing reads on after the run ended, and the pool takes a new map at once.
  const again: unknown[] = [];
  for await (const y of pool.map([1, 2, 3])) again.push(y);
  assert.deepEqual(again, [1, 2, 3].map((x) => hash(x)));
  assert.equal(read, readAtEnd);
});
