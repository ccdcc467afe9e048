import assert from "node:assert/strict";
import * as arrow from "npm:apache-arrow@19";
import { ClosedError } from "../src/errors.ts";
import { arrowAdapter, Frame } from "../src/frame/mod.ts";
import {
  type Flush,
  LoopCheckpointError,
  LoopMisuseError,
  LoopStateError,
  StatefulLoop,
} from "../src/loop/mod.ts";
import { StateStore } from "../src/state/mod.ts";
import { parameterInfo } from "../src/loop/params.ts";
import { withTempDir } from "./temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-loop-");

const f64 = (...v: number[]) => new Frame({ value: new Float64Array(v) });

Deno.test("seed example 1: bound function state sums to 3, buffer flushes every item", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    function processFn(df: Frame<{ value: Float64Array }>, aggState: { sum: number }) {
      for (const v of df.columns.value) aggState.sum += v;
    }
    const aggState = { sum: 0 };
    const sumFn = loop.bindFunctionState(processFn, { state: { aggState } });
    const flushed: number[] = [];
    for await (const { item, final } of loop.iterate([f64(1), f64(2)])) {
      if (final) continue;
      sumFn(item);
      const out = loop.buffer("main", { main: item }, { memoryLimitMb: 0.000001 });
      if (!out) continue; // oups' Skip
      flushed.push(out.frames.main.columns.value[0] as number);
    }
    assert.equal(aggState.sum, 3);
    assert.deepEqual(flushed, [1, 2]);
  });
});

Deno.test("seed example 2: items arrive in order", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    const out: number[] = [];
    for await (const { item } of loop.iterate([1, 2])) out.push(item as number);
    assert.deepEqual(out, [1, 2]);
    assert.equal(loop.position, 2);
  });
});

Deno.test("no look-ahead: an item reaches the body before the source is asked for the next", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    const log: string[] = [];
    async function* source() {
      for (let i = 0; i < 3; i++) {
        log.push(`yield ${i}`);
        yield i;
      }
    }
    for await (const { item } of loop.iterate(source())) log.push(`body ${item}`);
    assert.deepEqual(log, ["yield 0", "body 0", "yield 1", "body 1", "yield 2", "body 2"]);
  });
});

Deno.test("memory limit: flushes exactly when the site's bytes reach the limit", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    // 100-byte frames (plain estimate avoided: typed only) against a 1000-byte limit.
    const limitMb = 1000 / (1024 * 1024);
    const frames = Array.from(
      { length: 25 },
      (_, i) => new Frame({ b: new Uint8Array(100).fill(i) }),
    );
    const flushes: { at: number; bytes: number; rows: number; seq: number; final: boolean }[] = [];
    for await (const step of loop.iterate(frames)) {
      const out = loop.buffer("b", step.final ? undefined : { b: step.item }, {
        memoryLimitMb: limitMb,
      });
      if (out) {
        flushes.push({
          at: step.index,
          bytes: out.bytes,
          rows: out.frames.b.length,
          seq: out.seq,
          final: out.final,
        });
      }
      if (!step.final) {
        const held = loop.sites[0]!;
        assert.equal(held.bytes, out ? 0 : ((step.index % 10) + 1) * 100);
      }
    }
    assert.deepEqual(flushes, [
      { at: 9, bytes: 1000, rows: 1000, seq: 0, final: false },
      { at: 19, bytes: 1000, rows: 1000, seq: 1, final: false },
      { at: 25, bytes: 500, rows: 500, seq: 2, final: true },
    ]);
  });
});

Deno.test("end-of-source pass: cascade across three sites, in site order, nothing left", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir, { memoryLimitMb: 1 });
    const order: string[] = [];
    const rows = { a: 0, b: 0, c: 0 };
    const kib = 1 / 1024;
    for await (const step of loop.iterate(Array.from({ length: 10 }, (_, i) => i))) {
      // site a: 8 bytes per item, flushes every 4 items (32 B limit)
      const a = loop.buffer(
        "a",
        step.final ? undefined : { x: new Frame({ x: new Float64Array([step.item]) }) },
        { memoryLimitMb: 32 / 1024 / 1024 },
      );
      if (a) {
        order.push(`a${a.seq}${a.final ? "F" : ""}`);
        rows.a += a.frames.x.length;
      }
      // site b: fed by a's flushes only; 1 KiB limit never reached
      const b = loop.buffer("b", a ? { y: a.frames.x } : undefined, { memoryLimitMb: kib });
      if (b) {
        order.push(`b${b.seq}${b.final ? "F" : ""}`);
        rows.b += b.frames.y.length;
      }
      // site c: fed by b's flushes
      const c = loop.buffer("c", b ? { z: b.frames.y } : undefined, { memoryLimitMb: kib });
      if (c) {
        order.push(`c${c.seq}${c.final ? "F" : ""}`);
        rows.c += c.frames.z.length;
      }
    }
    assert.deepEqual(order, ["a0", "a1", "a2F", "b0F", "c0F"]);
    assert.deepEqual(rows, { a: 10, b: 10, c: 10 });
    assert.ok(loop.sites.every((s) => s.bytes === 0 && s.frames === 0));
  });
});

Deno.test("end-of-source pass: a site the final pass does not reach is a LoopMisuseError", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    await assert.rejects(async () => {
      for await (const step of loop.iterate([1, 2])) {
        if (step.final) continue; // forgets to flush
        loop.buffer("kept", { v: f64(step.item) });
      }
    }, (e: unknown) => e instanceof LoopMisuseError && /"kept"/.test(e.message));
  });
});

Deno.test("resume after an error: last checkpoint unchanged, error reaches the caller", async () => {
  await withDir(async (dir) => {
    const items = Array.from({ length: 10 }, (_, i) => i + 1);
    {
      await using loop = await StatefulLoop.open(dir, {
        checkpoint: { everyItems: 3, everyMs: false },
      });
      const acc = loop.state("acc", { sum: 0, seen: [] as number[] });
      const boom = new Error("boom at 8");
      await assert.rejects(async () => {
        for await (const { item } of loop.iterate(items)) {
          acc.sum += item as number; // half-updated state for item 8...
          if (item === 8) throw boom; // ... must never be saved
          acc.seen.push(item as number);
        }
      }, (e: unknown) => e === boom);
      assert.equal(loop.position, 7);
      assert.equal(loop.checkpoints, 2); // after items 3 and 6
      assert.throws(() => loop.buffer("x", undefined), LoopMisuseError);
    }
    {
      await using loop = await StatefulLoop.open(dir, { checkpoint: { everyItems: 3 } });
      assert.ok(loop.resumed);
      assert.equal(loop.position, 6);
      const acc = loop.state("acc", { sum: 0, seen: [] as number[] });
      assert.deepEqual(acc, { sum: 21, seen: [1, 2, 3, 4, 5, 6] });
      const got: number[] = [];
      for await (const { item, index } of loop.iterate(items)) {
        got.push(index);
        acc.sum += item as number;
        acc.seen.push(item as number);
      }
      assert.deepEqual(got, [6, 7, 8, 9]);
      assert.equal(acc.sum, 55);
    }
    {
      // finished: state kept; replaying the same source does nothing
      await using loop = await StatefulLoop.open(dir);
      const acc = loop.state("acc", { sum: -1, seen: [] as number[] });
      assert.equal(acc.sum, 55);
      let n = 0;
      for await (const _ of loop.iterate(items)) n++;
      assert.equal(n, 0);
    }
  });
});

Deno.test("resume restores buffered frames and flush sequence numbers", async () => {
  await withDir(async (dir) => {
    const limit = { memoryLimitMb: 40 / 1024 / 1024 }; // 5 float64 rows
    const all: string[] = [];
    {
      await using loop = await StatefulLoop.open(dir, { checkpoint: { everyItems: 1 } });
      await assert.rejects(async () => {
        for await (const { item } of loop.iterate(Array.from({ length: 12 }, (_, i) => i))) {
          if (item === 7) throw new Error("stop");
          const out = loop.buffer("s", { v: f64(item as number) }, limit);
          if (out) all.push(`${out.seq}:${[...out.frames.v.columns.value].join(",")}`);
        }
      }, /stop/);
    }
    {
      await using loop = await StatefulLoop.open(dir, { checkpoint: { everyItems: 1 } });
      assert.deepEqual(loop.sites, [{ site: "s", adapter: "frame", bytes: 16, frames: 1, seq: 1 }]);
      for await (const step of loop.iterate(Array.from({ length: 12 }, (_, i) => i))) {
        const out = loop.buffer("s", step.final ? undefined : { v: f64(step.item) }, limit);
        if (out) all.push(`${out.seq}:${[...out.frames.v.columns.value].join(",")}`);
      }
    }
    assert.deepEqual(all, ["0:0,1,2,3,4", "1:5,6,7,8,9", "2:10,11"]);
  });
});

Deno.test("skipCompleted: false takes the remaining source as given", async () => {
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      const s = loop.state("s", { items: [] as string[] });
      for await (const { item } of loop.iterate(["a", "b"])) s.items.push(item as string);
    }
    await using loop = await StatefulLoop.open(dir);
    const s = loop.state("s", { items: [] as string[] });
    const seen: number[] = [];
    for await (const { item, index } of loop.iterate(["c"], { skipCompleted: false })) {
      s.items.push(item as string);
      seen.push(index);
    }
    assert.deepEqual(s.items, ["a", "b", "c"]);
    assert.deepEqual(seen, [2]);
  });
});

Deno.test("a shorter replayed source than the checkpoint position is a LoopMisuseError", async () => {
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      for await (const _ of loop.iterate([1, 2, 3]));
    }
    await using loop = await StatefulLoop.open(dir);
    await assert.rejects(async () => {
      for await (const _ of loop.iterate([1])) { /* nothing */ }
    }, LoopMisuseError);
  });
});

Deno.test("bindObjectState: reassignment and mutation persist; restored onto the object", async () => {
  class Model {
    weights = new Float64Array([0, 0]);
    steps = 0;
    label = "init";
  }
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      const m = loop.bindObjectState(new Model(), { keys: ["weights", "steps", "label"] });
      for await (const { item } of loop.iterate([1, 2])) {
        m.weights[0]! += item as number;
        m.steps++;
        m.label = `after ${item}`;
      }
    }
    await using loop = await StatefulLoop.open(dir);
    const m = loop.bindObjectState(new Model(), { keys: ["weights", "steps", "label"] });
    assert.deepEqual([...m.weights], [3, 0]);
    assert.equal(m.steps, 2);
    assert.equal(m.label, "after 2");
  });
});

Deno.test("bindFunctionState: restores into the caller's objects; new parameters keep defaults", async () => {
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      const step = (x: number, acc: { n: number }) => (acc.n += x);
      const acc = { n: 0 };
      const bound = loop.bindFunctionState(step, { state: { acc } });
      for await (const { item } of loop.iterate([5, 6])) bound(item);
      assert.equal(acc.n, 11);
    }
    await using loop = await StatefulLoop.open(dir);
    const step = (x: number, acc: { n: number }, extra: { calls: number }) => {
      extra.calls++;
      return (acc.n += x);
    };
    const acc = { n: 0 };
    const extra = { calls: 0 };
    const bound = loop.bindFunctionState(step, { state: { acc, extra } });
    assert.equal(acc.n, 11); // the caller's own object holds the restored value
    assert.equal(bound(1), 12);
    assert.equal(extra.calls, 1);
  });
});

Deno.test("state binding errors: names, parameters, shapes", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    function f(a: number, total: { v: number }) {
      return a + total.v;
    }
    const is = (re: RegExp) => (e: unknown) => e instanceof LoopStateError && re.test(e.message);
    assert.throws(
      () => loop.bindFunctionState(f, { state: { totl: { v: 0 } } }),
      is(/"totl" is not a parameter of f; its parameters are \[a, total\]/),
    );
    assert.throws(
      () => loop.bindFunctionState((x: number) => x, { state: {} }),
      is(/no name/),
    );
    assert.throws(
      () => loop.bindFunctionState(f.bind(null), { state: { total: { v: 0 } }, name: "g" }),
      is(/cannot read the parameter names/),
    );
    assert.throws(
      () => loop.bindFunctionState(f, { state: { total: 3 as unknown as object } }),
      is(/must be an object/),
    );
    loop.bindFunctionState(f, { state: { total: { v: 0 } } });
    assert.throws(
      () => loop.bindFunctionState(f, { state: { total: { v: 0 } } }),
      is(/already bound/),
    );
    assert.throws(() => loop.state("f", {}), is(/already bound/));
    assert.throws(() => loop.bindObjectState({ a: 1 }, { keys: ["a"] }), is(/pass options.name/));
    assert.throws(
      () => loop.bindObjectState({ a: 1 } as { a: number; b?: number }, { keys: ["b"], name: "o" }),
      is(/no attribute "b"/),
    );
    assert.throws(() => loop.state("fn", { cb: () => 1 }), is(/cannot be saved/));
    class Weird {
      x = new WeakMap();
    }
    assert.throws(() => loop.state("w", new Weird()), is(/cannot be saved/));
  });
});

Deno.test("a state saved with another shape is refused on restore", async () => {
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      loop.state("w", { arr: [1] });
      loop.state("t", new Float64Array(2));
      for await (const _ of loop.iterate([1]));
    }
    await using loop = await StatefulLoop.open(dir);
    assert.throws(() => loop.state("t", new Float64Array(3)), LoopStateError);
    assert.throws(() => loop.state("w", [] as unknown[]), LoopStateError);
    assert.deepEqual(loop.unboundStates.sort(), ["t", "w"]);
  });
});

Deno.test("misuse errors: buffer outside iterate, second iterate, binding after start, closed", async () => {
  await withDir(async (dir) => {
    const loop = await StatefulLoop.open(dir);
    assert.throws(() => loop.buffer("a", { v: f64(1) }), LoopMisuseError);
    const gen = loop.iterate([1, 2]);
    assert.throws(() => loop.iterate([1]), LoopMisuseError);
    assert.throws(() => loop.state("late", {}), LoopMisuseError);
    const first = await gen.next();
    assert.equal(first.value && first.value.item, 1);
    assert.equal(loop.buffer("a", { v: f64(1), w: f64(2) }, { memoryLimitMb: 1 }), undefined);
    // keys of a site are fixed by its first call
    assert.throws(() => loop.buffer("a", { v: f64(1) }), /takes the keys \[v, w\]/);
    // frames of a key must keep their columns
    assert.throws(
      () => loop.buffer("a", { v: new Frame({ other: new Float64Array(1) }), w: f64(1) }),
      /holds frames with columns/,
    );
    // non-Frame without adapter
    assert.throws(
      () => loop.buffer("b", { t: arrow.tableFromArrays({ v: new Float64Array(1) }) }),
      /pass options.adapter/,
    );
    await gen.return();
    assert.throws(() => loop.buffer("a", undefined), /stopped in the middle of an item/);
    await loop.close();
    assert.throws(() => loop.iterate([1]), ClosedError);
    // the constructor is internal
    assert.throws(
      () => new (StatefulLoop as unknown as new (...a: unknown[]) => unknown)("x", "y"),
      LoopMisuseError,
    );
  });
});

Deno.test("incompatible checkpoint version and foreign snapshots are LoopCheckpointErrors", async () => {
  await withDir(async (dir) => {
    {
      await using store = new StateStore(dir);
      store.register("loop", {
        saveState: (_d, ctx) => ctx.writeJson("loop.json", { format: "spool.loop", version: 99 }),
        loadState: () => {},
      });
      await store.save();
    }
    await assert.rejects(
      () => StatefulLoop.open(dir),
      (e: unknown) => e instanceof LoopCheckpointError && /version 99/.test(e.message),
    );
  });
  await withDir(async (dir) => {
    {
      await using store = new StateStore(dir);
      store.register("other", { saveState: () => {}, loadState: () => {} });
      await store.save();
    }
    await assert.rejects(() => StatefulLoop.open(dir), LoopCheckpointError);
    // the lock was released: the store can be opened again
    await using store = new StateStore(dir);
    assert.equal((await store.list()).length, 1);
  });
});

Deno.test("checkpoint triggers: every N items, every T ms (injected clock), after flush, at end", async () => {
  await withDir(async (dir) => {
    let now = 0;
    await using loop = await StatefulLoop.open(dir, {
      checkpoint: { everyItems: 4, everyMs: 100, afterFlush: true, atEnd: true },
      clock: () => now,
    });
    const at: number[] = [];
    let last = 0;
    for await (const step of loop.iterate(Array.from({ length: 10 }, (_, i) => i))) {
      if (step.item === 1) now = 150; // item 1 completes at t=150 -> timed checkpoint
      if (step.item === 6) loop.buffer("s", { v: f64(1) }, { memoryLimitMb: 0 }); // flush at 6
      if (loop.checkpoints !== last) {
        at.push(loop.position);
        last = loop.checkpoints;
      }
    }
    // positions seen by the body after each checkpoint: 2 (timed at item 1), 6 (4 items since),
    // 7 (flush during item 6), 10 reached at the end (atEnd)
    assert.deepEqual(at, [2, 6, 7]);
    assert.equal(loop.checkpoints, 4);
  });
});

Deno.test("abort between items checkpoints completed items and throws AbortedError", async () => {
  await withDir(async (dir) => {
    const ac = new AbortController();
    {
      await using loop = await StatefulLoop.open(dir, { checkpoint: { everyMs: false } });
      const s = loop.state("s", { n: 0 });
      await assert.rejects(async () => {
        for await (const { item } of loop.iterate([1, 2, 3, 4], { signal: ac.signal })) {
          s.n += item as number;
          if (item === 2) ac.abort();
        }
      }, (e: unknown) => (e as Error).name === "AbortedError");
    }
    await using loop = await StatefulLoop.open(dir);
    assert.equal(loop.position, 2);
    assert.equal(loop.state("s", { n: 0 }).n, 3);
  });
});

Deno.test("Arrow tables buffer, checkpoint and resume through arrowAdapter", async () => {
  const adapter = arrowAdapter(arrow);
  const table = (i: number) =>
    arrow.tableFromArrays({ v: new Float64Array([i, i]), s: [`a${i}`, `b${i}`] });
  const limitMb = (3 * adapter.byteSize(table(0)) + 1) / 1024 / 1024; // flush every 4 tables
  await withDir(async (dir) => {
    const flushed: Flush<"t", ReturnType<typeof table>>[] = [];
    {
      await using loop = await StatefulLoop.open(dir, { checkpoint: { everyItems: 1 } });
      await assert.rejects(async () => {
        for await (const { item } of loop.iterate([0, 1, 2, 3, 4, 5, 6])) {
          if (item === 6) throw new Error("crash");
          const out = loop.buffer("t", { t: table(item as number) }, {
            memoryLimitMb: limitMb,
            adapter,
          });
          if (out) flushed.push(out);
        }
      }, /crash/);
    }
    await assert.rejects(() => StatefulLoop.open(dir), /pass that adapter in options.adapters/);
    {
      await using loop = await StatefulLoop.open(dir, { adapters: [adapter] });
      for await (const step of loop.iterate([0, 1, 2, 3, 4, 5, 6])) {
        const out = loop.buffer("t", step.final ? undefined : { t: table(step.item) }, {
          memoryLimitMb: limitMb,
          adapter,
        });
        if (out) flushed.push(out);
      }
    }
    assert.deepEqual(flushed.map((f) => [f.seq, f.final, f.frames.t.numRows]), [[0, false, 8], [
      1,
      true,
      6,
    ]]);
    assert.deepEqual([...flushed[1]!.frames.t.getChild("v")!.toArray()], [4, 4, 5, 5, 6, 6]);
    assert.deepEqual([...flushed[1]!.frames.t.getChild("s")!.toArray()], [
      "a4",
      "b4",
      "a5",
      "b5",
      "a6",
      "b6",
    ]);
  });
});

Deno.test("parameterInfo reads names from many function forms", () => {
  const names = (fn: (...a: never[]) => unknown) => parameterInfo(fn)?.map((p) => p.name ?? "?");
  assert.deepEqual(
    names(function f(a: number, b = "x,y)", c = [1, 2]) {
      return [a, b, c];
    }),
    ["a", "b", "c"],
  );
  assert.deepEqual(names((x: number) => x), ["x"]);
  assert.deepEqual(
    names(async function* g(/* c, */ _first: number, { d: _d }: { d: 1 }, ..._rest: number[]) {}),
    [
      "_first",
      "?",
      "_rest",
    ],
  );
  assert.deepEqual(names(new Function("a", "b = (1, 2)", "return a") as () => void), ["a", "b"]);
  const o = {
    method(q: number, r: (s: number) => number = (s) => s) {
      return q + r(1);
    },
  };
  assert.deepEqual(names(o.method), ["q", "r"]);
  assert.equal(parameterInfo(Math.max), undefined);
  assert.equal(parameterInfo(o.method.bind(o)), undefined);
});

Deno.test("sources: promises in a sync iterable are awaited; break stops the source", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    const got: number[] = [];
    for await (const { item } of loop.iterate([Promise.resolve(1), 2, Promise.resolve(3)])) {
      got.push(item as number);
    }
    assert.deepEqual(got, [1, 2, 3]);
  });
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    let stopped = false;
    async function* source() {
      try {
        for (let i = 0;; i++) yield i;
      } finally {
        stopped = true;
      }
    }
    for await (const { item } of loop.iterate(source())) if (item === 3) break;
    assert.ok(stopped);
    assert.equal(loop.position, 3); // the item being processed at break is not completed
  });
});

Deno.test("everyMs without an injected clock: a timer raises the trigger, cleared at the end", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir, {
      checkpoint: { everyMs: 1, afterFlush: false, atEnd: false },
    });
    for await (const _ of loop.iterate([1, 2, 3])) {
      await new Promise((resolve) => setTimeout(resolve, 5)); // each item outlasts the 1 ms timer
    }
    assert.equal(loop.checkpoints, 3);
  });
});

Deno.test("iterator protocol: next() without awaiting stays in order; throw() stops; source errors reach the caller", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir, { checkpoint: { everyMs: false } });
    async function* source() {
      yield 1;
      yield 2;
      yield 3;
    }
    const it = loop.iterate(source());
    const [a, b, c] = await Promise.all([it.next(), it.next(), it.next()]);
    assert.deepEqual([a.value?.item, b.value?.item, c.value?.item], [1, 2, 3]);
    assert.equal(loop.position, 2);
    const boom = new Error("boom");
    await assert.rejects(() => it.throw(boom), (e: unknown) => e === boom);
    assert.equal(loop.position, 2);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir, { checkpoint: { everyItems: 1 } });
    const s = loop.state("s", { n: 0 });
    const broken = new Error("source broke");
    async function* source() {
      yield 1;
      yield 2;
      throw broken;
    }
    await assert.rejects(async () => {
      for await (const { item } of loop.iterate(source())) s.n += item as number;
    }, (e: unknown) => e === broken);
    assert.equal(loop.position, 2);
    assert.equal(loop.checkpoints, 2);
  });
});

Deno.test("items(): plain items for loops without buffers; buffer() there is a misuse", async () => {
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      const s = loop.state("s", { sum: 0 });
      await assert.rejects(async () => {
        for await (const n of loop.items([1, 2, 3])) {
          s.sum += n; // typed number
          if (n === 3) loop.buffer("x", { v: f64(n) });
        }
      }, (e: unknown) => e instanceof LoopMisuseError && /use loop.iterate/.test(e.message));
    }
    await using loop = await StatefulLoop.open(dir);
    assert.equal(loop.resumed, false); // the failed run reached no checkpoint trigger
    const s = loop.state("s", { sum: 0 });
    for await (const n of loop.items([1, 2, 3, 4])) s.sum += n;
    assert.equal(s.sum, 10);
  });
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir, { checkpoint: { everyItems: 1 } });
      await assert.rejects(async () => {
        for await (const { item } of loop.iterate([1, 2])) {
          loop.buffer("held", { v: f64(item as number) });
          if (item === 2) throw new Error("stop");
        }
      }, /^Error: stop$/);
    }
    await using loop = await StatefulLoop.open(dir);
    assert.throws(() => loop.items([1, 2]), /holds buffered frames/);
  });
});
