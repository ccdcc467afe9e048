// One behavioural spec run against every fast path and its general twin: fused vs unfused nodes
// (`fuse`), `emit` taking every target at once vs `emitSlow` waiting on a full edge (`buffer: 1`
// fills edges at once), and the function node's one-call-per-item branch vs its window of calls
// (`spawn: 1` vs `spawn: 2`). `nodeResult`'s fast branch (one good result) and its slow one
// (failures, `produce: 2`) run in every variant.
import assert from "node:assert/strict";
import { Pipeline } from "./mod.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const N = 60;
const fails = (x: number) => x % 17 === 3;

function build(fuse: boolean, buffer: number, spawn: number): Pipeline {
  const p = new Pipeline({ fuse, buffer, sinkBuffer: buffer });
  p.source("s");
  // Synchronous, and an async result for every third item.
  p.node("double", {
    inputs: ["s"],
    spawn,
    errors: "dead-letter",
    fn: (x: number) => {
      if (fails(x)) throw new Error(`bad ${x}`);
      return x % 3 === 0 ? Promise.resolve(2 * x) : 2 * x;
    },
  });
  p.node("sum", {
    inputs: ["double"],
    state: { total: 0 },
    fn: (st: { total: number }, y: number) => (st.total += y),
  });
  p.node("split", { inputs: ["double"], produce: 2, fn: (y: number) => [y, -y] });
  return p;
}

const good = range(N).filter((x) => !fails(x));
const expected = {
  sum: good.reduce<number[]>((acc, x) => [...acc, (acc.at(-1) ?? 0) + 2 * x], []),
  split: good.flatMap((x) => [2 * x, -2 * x]),
  dead: range(N).filter(fails),
};

for (const fuse of [true, false]) {
  for (const buffer of [64, 1]) {
    for (const spawn of [1, 2]) {
      const name = `fuse: ${fuse}, buffer: ${buffer}, spawn: ${spawn}`;

      Deno.test(`run paths (${name}): outputs, states and dead letters are the same`, async () => {
        const r = await build(fuse, buffer, spawn).runToCompletion({ s: range(N) });
        assert.deepEqual(r.outputs.sum, expected.sum);
        assert.deepEqual(r.outputs.split, expected.split);
        assert.deepEqual(r.states.sum, { total: expected.sum.at(-1) });
        assert.deepEqual(r.deadLetters.map((d) => [d.node, d.position, d.item]), [
          ...expected.dead.map((x) => ["double", x, x]),
        ]);
      });

      Deno.test(`run paths (${name}): sequence numbers count the holes`, async () => {
        const run = build(fuse, buffer, spawn).run({ s: range(N) });
        const seqs: number[] = [];
        const read = (async () => {
          for await (const e of run.entries("split")) seqs.push(e.seq);
        })();
        const sums: unknown[] = [];
        for await (const v of run.outputs.sum!) sums.push(v);
        await read;
        await run.done;
        assert.deepEqual(sums, expected.sum);
        // Each dead letter leaves two holes in `split` (produce: 2): their numbers are skipped.
        const want = range(N).flatMap((x) => (fails(x) ? [] : [2 * x, 2 * x + 1]));
        assert.deepEqual(seqs, want);
      });
    }
  }
}
