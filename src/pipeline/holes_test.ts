// Holes (items that failed upstream with errors: "dead-letter") through consume, produce, spawn,
// fan-in zips and resumes: a good item is never dropped because a neighbour failed; it is either
// processed or listed in the dead letters with the reason.
import assert from "node:assert/strict";
import { HoleError, NodeError, Pipeline } from "./mod.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Source 0..n-1 through `parse` (dead-letters every bad index) into `...rest`. */
function parsing(bad: Set<number>, fuse = true): Pipeline {
  const p = new Pipeline({ buffer: 4, fuse });
  p.source("s");
  p.node("parse", {
    inputs: ["s"],
    errors: "dead-letter",
    fn: (x: number) => {
      if (bad.has(x)) throw new RangeError(`bad ${x}`);
      return x;
    },
  });
  return p;
}

for (const fuse of [true, false]) {
  Deno.test(`holes: consume groups keep their good items (1,000 items, 10 bad, consume 10, fuse ${fuse})`, async () => {
    const bad = new Set(range(10).map((i) => i * 97 + 3));
    const p = parsing(bad, fuse);
    p.node("count", {
      inputs: ["parse"],
      consume: 10,
      state: { n: 0, sum: 0 },
      fn: (st: { n: number; sum: number }, g: number[]) => {
        st.n += g.length;
        for (const x of g) st.sum += x;
        return g.length;
      },
    });
    const r = await p.runToCompletion({ s: range(1000) });
    const st = r.states.count as { n: number; sum: number };
    assert.equal(st.n, 990);
    const goodSum = range(1000).filter((x) => !bad.has(x)).reduce((a, b) => a + b, 0);
    assert.equal(st.sum, goodSum);
    // Group boundaries stay on input positions (10 slots per group): a group with a hole
    // carries 9 good items.
    assert.equal((r.outputs.count as number[]).length, 100);
    assert.equal((r.outputs.count as number[]).filter((n) => n === 9).length, 10);
    assert.equal(r.deadLetters.length, 10);
    assert.equal(r.deadLettersTotal, 10);
  });
}

Deno.test("holes: dead letters name the node, the input position and count, the item and the error", async () => {
  const p = parsing(new Set([2, 5]));
  p.node("g", {
    inputs: ["parse"],
    consume: 3,
    errors: "dead-letter",
    fn: (g: number[]) => {
      if (g.includes(7)) throw new TypeError("no 7");
      return g;
    },
  });
  const r = await p.runToCompletion({ s: range(10) });
  // parse: 0 1 H 3 4 H 6 7 8 9 -> groups [0 1 H] [3 4 H] [6 7 8] [9]
  assert.deepEqual(r.outputs.g, [[0, 1], [3, 4], [9]]);
  const dl = r.deadLetters.map(({ node, position, count, item }) => ({
    node,
    position,
    count,
    item,
  }));
  assert.deepEqual(dl, [
    { node: "parse", position: 2, count: 1, item: 2 },
    { node: "parse", position: 5, count: 1, item: 5 },
    { node: "g", position: 6, count: 3, item: [6, 7, 8] },
  ]);
  assert.ok(r.deadLetters[0]!.error instanceof RangeError);
  assert.ok(r.deadLetters[2]!.error instanceof TypeError);
});

Deno.test("holes: a group of holes only is a hole (no call), the last partial group keeps its good items", async () => {
  const calls: number[][] = [];
  const p = parsing(new Set([0, 1, 2, 7]));
  p.node("g", {
    inputs: ["parse"],
    consume: 3,
    fn: (g: number[]) => {
      calls.push(g);
      return g.length;
    },
  });
  const run = p.run({ s: range(8) });
  const seqs: number[] = [];
  for await (const e of run.entries("g")) seqs.push(e.seq);
  await run.done;
  // [H H H] [3 4 5] [6 H]
  assert.deepEqual(calls, [[3, 4, 5], [6]]);
  assert.deepEqual(seqs, [1, 2]); // the hole keeps sequence 0
});

Deno.test("holes: produce turns a hole (or a failed call) into produce holes; sequence numbers stay stable", async () => {
  const p = parsing(new Set([1]));
  p.node("twice", {
    inputs: ["parse"],
    produce: 2,
    errors: "dead-letter",
    fn: (x: number) => {
      if (x === 3) throw new Error("three");
      return [x, -x];
    },
  });
  const run = p.run({ s: range(5) });
  const got: [number, unknown][] = [];
  for await (const e of run.entries("twice")) got.push([e.seq, e.value]);
  await run.done;
  assert.deepEqual(got, [[0, 0], [1, -0], [4, 2], [5, -2], [8, 4], [9, -4]]);
  assert.deepEqual(run.deadLetters.map((d) => [d.node, d.position]), [["parse", 1], ["twice", 3]]);
});

Deno.test("holes: consume n / produce n maps a short group's results back to its good slots", async () => {
  const p = parsing(new Set([1, 5, 6, 7]));
  p.node("batch", {
    inputs: ["parse"],
    consume: 4,
    produce: 4,
    fn: (g: number[]) => g.map((x) => x * 10),
  });
  p.node("pair", { inputs: ["s", "batch"], fn: (a: number, b: number) => [a, b] });
  const r = await p.runToCompletion({ s: range(10) });
  // [0 H 2 3] [4 H H H] [8 9]: results back in their slots, so the zip with s stays aligned.
  assert.deepEqual(r.outputs.pair, [[0, 0], [2, 20], [3, 30], [4, 40], [8, 80], [9, 90]]);
});

Deno.test("holes: spawn keeps holes and results in input order, with positions", async () => {
  const p = parsing(new Set([4, 9]));
  p.node("slow", {
    inputs: ["parse"],
    spawn: 4,
    errors: "dead-letter",
    fn: async (x: number) => {
      await new Promise((r) => setTimeout(r, (x * 7) % 5));
      if (x === 6) throw new Error("six");
      return x * 10;
    },
  });
  const r = await p.runToCompletion({ s: range(12) });
  assert.deepEqual(r.outputs.slow, [0, 10, 20, 30, 50, 70, 80, 100, 110]);
  assert.deepEqual(r.deadLetters.map((d) => [d.node, d.position]).sort(), [
    ["parse", 4],
    ["parse", 9],
    ["slow", 6],
  ]);
});

Deno.test("holes: a zip with a hole dead-letters the other inputs' items with HoleError", async () => {
  const p = parsing(new Set([1, 4]));
  p.node("neg", { inputs: ["s"], fn: (x: number) => -x });
  p.node("pair", { inputs: ["neg", "parse"], fn: (a: number, b: number) => [a, b] });
  const r = await p.runToCompletion({ s: range(6) });
  assert.deepEqual(r.outputs.pair, [[-0, 0], [-2, 2], [-3, 3], [-5, 5]]);
  const zips = r.deadLetters.filter((d) => d.node === "pair");
  assert.deepEqual(zips.map((d) => [d.position, d.item]), [[1, [-1, undefined]], [4, [
    -4,
    undefined,
  ]]]);
  for (const d of zips) {
    assert.ok(d.error instanceof HoleError);
    assert.match((d.error as Error).message, /input "parse" had no item there/);
  }
  // Every source item is accounted for: processed, or dead-lettered (here twice: its failure in
  // parse and its partner in pair).
  assert.equal(r.outputs.pair!.length + zips.length, 6);
});

Deno.test("holes: a zip of holes only is a hole (nothing to dead-letter); zips then group", async () => {
  const p = new Pipeline({ buffer: 2 });
  p.source("s");
  const failing = (bad: number[]) => (x: number) => {
    if (bad.includes(x)) throw new Error(`bad ${x}`);
    return x;
  };
  p.node("a", { inputs: ["s"], errors: "dead-letter", fn: failing([1, 2]) });
  p.node("b", { inputs: ["s"], errors: "dead-letter", fn: failing([2, 3]) });
  p.node("z", { inputs: ["a", "b"], consume: 2, fn: (g: number[][]) => g.map(([x]) => x) });
  const r = await p.runToCompletion({ s: range(6) });
  // tuples: [0,0] H(1: a) H(2: both) H(3: b) [4,4] [5,5] -> groups [[0,0],H] [H,H] [[4,4],[5,5]]
  assert.deepEqual(r.outputs.z, [[0], [4, 5]]);
  const zips = r.deadLetters.filter((d) => d.node === "z").map((d) => [d.position, d.item]);
  assert.deepEqual(zips, [[1, [undefined, 1]], [3, [3, undefined]]]);
});

Deno.test("holes: a fail-policy node after a dead-letter node only sees good items", async () => {
  const p = parsing(new Set([3]));
  const seen: number[] = [];
  p.node("f", { inputs: ["parse"], consume: 2, fn: (g: number[]) => seen.push(...g) });
  await p.runToCompletion({ s: range(6) });
  assert.deepEqual(seen, [0, 1, 2, 4, 5]);
});

Deno.test("holes: a fail-policy node reports the failed call's input position", async () => {
  const p = parsing(new Set([0]));
  p.node("f", {
    inputs: ["parse"],
    fn: (x: number) => {
      if (x === 4) throw new SyntaxError("four");
      return x;
    },
  });
  await assert.rejects(
    p.runToCompletion({ s: range(8) }),
    (e: unknown) =>
      e instanceof NodeError && e.node === "f" && e.position === 4 &&
      e.cause instanceof SyntaxError,
  );
});

Deno.test("holes: stop and resume keep group boundaries, outputs and dead letters (counted once)", async () => {
  const dir = await Deno.makeTempDir();
  const bad = new Set([3, 10, 11, 29, 40, 41, 42, 43, 44, 59]);
  const build = () => {
    const p = parsing(bad);
    p.node("neg", { inputs: ["s"], fn: (x: number) => -x });
    p.node("pair", { inputs: ["parse", "neg"], fn: (a: number, b: number) => a - b });
    p.node("sum", {
      inputs: ["pair"],
      consume: 7,
      state: { n: 0, total: 0 },
      fn: (st: { n: number; total: number }, g: number[]) => {
        st.n += g.length;
        for (const x of g) st.total += x;
        return g;
      },
    });
    return p;
  };
  try {
    const ref = await build().runToCompletion({ s: range(64) });
    const key = (d: { node: string; position: number }) => `${d.node}@${d.position}`;
    const outputs: unknown[] = [];
    const letters: string[] = [];
    let runs = 0;
    let total = 0;
    for (; runs < 50; runs++) {
      const run = build().run({ s: range(64) }, { store: dir, checkpointEvery: { items: 5 } });
      let seen = 0;
      for await (const e of run.entries("sum")) {
        outputs[e.seq] = e.value;
        if (++seen === 2) void run.stop();
      }
      await run.done;
      letters.push(...run.deadLetters.map(key));
      total = run.deadLettersTotal;
      if (run.resumedFrom?.done) break;
    }
    assert.ok(runs > 2, `runs: ${runs}`);
    assert.deepEqual(outputs, ref.outputs.sum);
    assert.equal(total, ref.deadLetters.length);
    // Dead letters re-occur only for inputs after the checkpoint a run resumed from: with
    // stop() every checkpoint is taken at the stop, so each one occurs exactly once overall.
    assert.deepEqual(letters.sort(), ref.deadLetters.map(key).sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("holes: items a zip cannot pair at the end (inputs of different lengths) are dead letters", async () => {
  for (const fuse of [true, false]) {
    const p = new Pipeline({ fuse });
    p.source("s");
    p.source("t");
    p.node("z", { inputs: ["s", "t"], fn: (a: number, b: string) => `${a}${b}` });
    const events: string[] = [];
    const r = await p.runToCompletion({ s: range(5), t: ["a", "b", "c"] }, {
      logger: (e) => {
        if (e.type === "zip-leftover") events.push(`${e.node}:${e.items}`);
      },
    });
    assert.deepEqual(r.outputs.z, ["0a", "1b", "2c"]);
    assert.deepEqual(r.deadLetters.map((d) => [d.node, d.position, d.item]), [
      ["z", 3, [3, undefined]],
      ["z", 4, [4, undefined]],
    ]);
    assert.ok(r.deadLetters[0]!.error instanceof HoleError);
    assert.match((r.deadLetters[0]!.error as Error).message, /input "t" ended before it/);
    assert.deepEqual(events, ["z:2"]);
  }
});

Deno.test("holes: spawn with consume/produce groups keeps slots aligned", async () => {
  const p = parsing(new Set([2, 3, 4, 5, 9]));
  p.node("batch", {
    inputs: ["parse"],
    spawn: 2,
    consume: 3,
    produce: 3,
    fn: async (g: number[]) => {
      await new Promise((r) => setTimeout(r, g[0]! % 3));
      return g.map((x) => x + 100);
    },
  });
  p.node("pair", { inputs: ["s", "batch"], fn: (a: number, b: number) => b - a });
  const r = await p.runToCompletion({ s: range(11) });
  // [0 1 H] [H H H] [6 7 8] [H 10]: every good item is paired with itself.
  assert.deepEqual(r.outputs.pair, [100, 100, 100, 100, 100, 100]);
  // The source items whose parse failed are dead-lettered at the zip (their partner is a hole).
  assert.deepEqual(r.deadLetters.filter((d) => d.node === "pair").map((d) => d.position), [
    2,
    3,
    4,
    5,
    9,
  ]);
});
