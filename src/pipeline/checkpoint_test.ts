import assert from "node:assert/strict";
import { StateStore } from "../state/store.ts";
import { Pipeline, type PipelineEvent } from "./mod.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function build(): Pipeline {
  const p = new Pipeline({ buffer: 4 });
  p.source("s");
  p.source("t");
  p.node("sq", { inputs: ["s"], spawn: 3, fn: (x: number) => Promise.resolve(x * x) });
  p.node("tri", {
    inputs: ["s"],
    consume: 3,
    produce: 3,
    fn: (g: number[]) => g.map((x) => x + 1),
  });
  p.node("j", {
    inputs: ["sq", "tri", "t"],
    fn: (a: number, b: number, c: string) => `${a}/${b}/${c}`,
  });
  p.node("agg", {
    inputs: ["j"],
    state: { n: 0, hist: new Float64Array(4), last: "" },
    fn: (st: { n: number; hist: Float64Array; last: string }, x: string) => {
      st.n++;
      st.hist[x.length % 4]! += 1;
      st.last = x;
      return `${st.n}:${x}`;
    },
  });
  p.node("groups", { inputs: ["s"], consume: 4, fn: (g: number[]) => g.join(",") });
  return p;
}

const N = 102;
const inputs = () => ({
  s: range(N),
  t: (pos: number) => range(N - pos).map((i) => `t${i + pos}`),
});

async function reference() {
  const r = await build().runToCompletion(inputs());
  return r;
}

Deno.test("a checkpointed run gives the same outputs; a rerun resumes as done", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ref = await reference();
    const events: PipelineEvent[] = [];
    const r = await build().runToCompletion(inputs(), {
      store: dir,
      checkpointEvery: { items: 10 },
      logger: (e) => events.push(e),
    });
    assert.deepEqual(r.outputs, ref.outputs);
    assert.deepEqual(r.states, ref.states);
    const cps = events.filter((e) => e.type === "checkpoint");
    assert.ok(cps.length >= 2, `checkpoints: ${cps.length}`);
    assert.equal(cps.at(-1)!.type === "checkpoint" && cps.at(-1)!.done, true);
    const again = await build().runToCompletion(inputs(), { store: dir });
    assert.equal(again.resumedFrom?.done, true);
    assert.deepEqual(again.outputs, { agg: [], groups: [] });
    assert.deepEqual(again.states, ref.states);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("re-running a finished pipeline writes no snapshot and says the job was complete", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await build().runToCompletion(inputs(), { store: dir, checkpointEvery: { items: 10 } });
    const snapshots = async () => {
      const names: string[] = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      return names.sort();
    };
    const before = await snapshots();
    for (let i = 0; i < 2; i++) {
      const events: PipelineEvent[] = [];
      const again = await build().runToCompletion(inputs(), {
        store: dir,
        checkpointEvery: { items: 1, ms: 1 },
        logger: (e) => events.push(e),
      });
      assert.equal(again.resumedFrom?.done, true);
      const start = events.find((e) => e.type === "run-start");
      assert.ok(
        start?.type === "run-start" && start.alreadyComplete === true,
        JSON.stringify(start),
      );
      assert.deepEqual(events.filter((e) => e.type === "checkpoint"), []);
      assert.deepEqual(await snapshots(), before);
    }
    // stop() of a run that resumed a finished job writes nothing either.
    const run = build().run(inputs(), { store: dir });
    await run.stop();
    assert.deepEqual(await snapshots(), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stop takes a checkpoint; the next run resumes exactly (outputs by seq, state)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ref = await reference();
    const got = { agg: new Map<number, unknown>(), groups: new Map<number, unknown>() };
    let runs = 0;
    for (let stopAfter = 7; runs < 50; stopAfter += 11) {
      runs++;
      const p = build();
      const run = p.run(inputs(), { store: dir, checkpointEvery: { items: 5 } });
      let seen = 0;
      const drain = async (name: "agg" | "groups") => {
        for await (const { value, seq } of run.entries(name)) {
          if (got[name].has(seq)) assert.equal(got[name].get(seq), value);
          got[name].set(seq, value);
          if (name === "agg" && ++seen === stopAfter) void run.stop();
        }
      };
      await Promise.all([drain("agg"), drain("groups"), run.done]);
      if (run.resumedFrom?.done) break;
      const last = (await new StateStore(dir, { readOnly: true }).latest())?.meta as {
        pipeline: { done: boolean };
      };
      if (last.pipeline.done) {
        assert.deepEqual(run.state("agg"), ref.states.agg);
        break;
      }
    }
    assert.ok(runs > 2, `runs: ${runs}`);
    assert.deepEqual([...got.agg.keys()].sort((a, b) => a - b), range(N));
    assert.deepEqual(range(N).map((i) => got.agg.get(i)), ref.outputs.agg);
    assert.deepEqual(
      range(ref.outputs.groups!.length).map((i) => got.groups.get(i)),
      ref.outputs.groups,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a StateStore can be passed; other components are left alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    {
      await using store = new StateStore(dir);
      const p = new Pipeline();
      p.source("s");
      p.node("sum", { inputs: ["s"], state: [0], fn: (st: number[], x: number) => (st[0]! += x) });
      const r = await p.runToCompletion({ s: range(10) }, { store, checkpointEvery: { items: 3 } });
      assert.deepEqual(r.states.sum, [45]);
      assert.deepEqual(store.names, []);
      const list = await store.list();
      assert.ok(list.length >= 2, `snapshots: ${list.length}`);
      assert.equal((list.at(-1)!.meta as { pipeline: { done: boolean } }).pipeline.done, true);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("typed-array state survives a checkpoint round trip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const mk = () => {
      const p = new Pipeline();
      p.source("s");
      p.node("acc", {
        inputs: ["s"],
        state: new Float64Array(1000),
        fn: (st: Float64Array, x: number) => {
          st[x % 1000] = x + 0.25;
          return x;
        },
      });
      return p;
    };
    await mk().runToCompletion({ s: range(1500) }, { store: dir, checkpointEvery: { items: 100 } });
    const r = await mk().runToCompletion({ s: range(1500) }, { store: dir });
    const st = r.states.acc as Float64Array;
    assert.ok(st instanceof Float64Array);
    assert.equal(st[7], 1007.25);
    assert.equal(st[999], 1999 - 1000 + 0.25 + 1000 - 1000 + 999 - 999 + 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stop right after run() (before the store is loaded) resumes where the last run was", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const mk = () => {
      const p = new Pipeline();
      p.source("s");
      p.node("sum", {
        inputs: ["s"],
        state: { t: 0 },
        fn: (st: { t: number }, x: number) => (st.t += x),
      });
      return p;
    };
    const first = mk().run({ s: range(1000) }, { store: dir, checkpointEvery: { items: 50 } });
    let n = 0;
    for await (const _ of first.outputs.sum!) if (++n === 100) void first.stop();
    await first.done;
    const second = mk().run({ s: range(1000) }, { store: dir });
    void second.stop();
    const out: unknown[] = [];
    for await (const v of second.outputs.sum!) out.push(v);
    await second.done;
    assert.equal(out.length, 0);
    assert.ok(second.resumedFrom !== undefined && second.resumedFrom.positions.s! >= 100);
    const third = await mk().runToCompletion({ s: range(1000) }, { store: dir });
    assert.deepEqual(third.states.sum, { t: 499500 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stress: diamonds, groups, holes and tiny buffers survive repeated stop/resume", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const M = 240;
    const mk = () => {
      const p = new Pipeline({ buffer: 1, sinkBuffer: 1 });
      p.source("s");
      p.source("t");
      p.node("a", { inputs: ["s"], consume: 2, produce: 2, fn: (g: number[]) => [g[1], g[0]] });
      p.node("b", {
        inputs: ["s"],
        spawn: 3,
        errors: "dead-letter",
        fn: async (x: number) => {
          await Promise.resolve();
          if (x % 17 === 5) throw new Error("boom");
          return x * 2;
        },
      });
      p.node("c", {
        inputs: ["a", "b", "t"],
        fn: (a: number, b: number, t: string) => `${a}.${b}.${t}`,
      });
      p.node("d", {
        inputs: ["c"],
        consume: 3,
        produce: 3,
        state: { calls: 0, seen: [] as number[] },
        fn: (st: { calls: number; seen: number[] }, g: string[]) => {
          st.calls++;
          st.seen.push(g.length);
          return g.map((x) => `${st.calls}:${x}`);
        },
      });
      p.node("e", { inputs: ["d", "c"], fn: (d: string, c: string) => `${d}|${c}` });
      p.node("f", { inputs: ["b"], consume: 4, fn: (g: number[]) => g.reduce((u, v) => u + v, 0) });
      return p;
    };
    const src = () => ({
      s: range(M),
      t: (pos: number) => range(M - pos).map((i) => `t${i + pos}`),
    });
    const ref = await mk().runToCompletion(src());
    const got = { e: new Map<number, unknown>(), f: new Map<number, unknown>() };
    let dead = 0;
    let rounds = 0;
    for (let round = 0; round < 100; round++) {
      const run = mk().run(src(), { store: dir, checkpointEvery: { items: 3 } });
      let n = 0;
      const stopAt = 5 + ((round * 7) % 23);
      const drain = async (name: "e" | "f") => {
        for await (const { value, seq } of run.entries(name)) {
          if (got[name].has(seq)) assert.equal(got[name].get(seq), value, `${name}#${seq}`);
          got[name].set(seq, value);
          if (name === "e" && ++n === stopAt) void run.stop();
        }
      };
      await Promise.all([drain("e"), drain("f"), run.done]);
      dead += run.deadLetters.length;
      rounds++;
      if (run.resumedFrom?.done || n < stopAt) {
        assert.deepEqual(run.state("d"), ref.states.d);
        break;
      }
    }
    assert.ok(rounds > 3, `rounds: ${rounds}`);
    assert.ok(dead >= ref.deadLetters.length);
    const eKeys = [...got.e.keys()].sort((x, y) => x - y);
    assert.deepEqual(eKeys.map((k) => got.e.get(k)), ref.outputs.e);
    const fKeys = [...got.f.keys()].sort((x, y) => x - y);
    assert.deepEqual(fKeys.map((k) => got.f.get(k)), ref.outputs.f);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const fuse of [true, false]) {
  Deno.test(`linear chain (fuse: ${fuse}): same outputs, dead letters and resume as the reference`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const mk = (f: boolean) => {
        // A small sink buffer bounds how far the source runs ahead of the reader whatever the
        // scheduling (a turn of the event loop lets it run on until the buffers are full).
        const p = new Pipeline({ buffer: 2, sinkBuffer: 4, fuse: f });
        p.source("s");
        p.node("inc", {
          inputs: ["s"],
          errors: "dead-letter",
          fn: (x: number) => {
            if (x % 13 === 4) throw new Error("bad");
            return x + 1;
          },
        });
        p.node("acc", {
          inputs: ["inc"],
          state: { sum: 0 },
          fn: async (st: { sum: number }, x: number) => {
            await Promise.resolve();
            return (st.sum += x);
          },
        });
        p.node("fmt", { inputs: ["acc"], chain: [String, [(s: string, p: string) => p + s, "#"]] });
        return p;
      };
      const ref = await mk(!fuse).runToCompletion({ s: range(300) });
      assert.equal(ref.deadLetters.length, 23);
      const got = new Map<number, unknown>();
      let rounds = 0;
      for (;;) {
        rounds++;
        const run = mk(fuse).run({ s: range(300) }, { store: dir, checkpointEvery: { items: 7 } });
        let n = 0;
        for await (const { value, seq } of run.entries("fmt")) {
          got.set(seq, value);
          if (++n === 40) void run.stop();
        }
        await run.done;
        if (n < 40) {
          assert.deepEqual(run.state("acc"), ref.states.acc);
          break;
        }
      }
      assert.ok(rounds > 3);
      const keys = [...got.keys()].sort((a, b) => a - b);
      assert.deepEqual(keys.map((k) => got.get(k)), ref.outputs.fmt);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
