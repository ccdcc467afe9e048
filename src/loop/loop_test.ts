/** StatefulLoop: order, buffers and their flushes, resume, misuse, Arrow frames, `items()`. */

import assert from "node:assert/strict";
import * as arrow from "npm:apache-arrow@19";
import { ClosedError } from "../errors.ts";
import { arrowAdapter, Frame } from "../frame/mod.ts";
import { type Flush, LoopMisuseError, StatefulLoop } from "./mod.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-loop-");

const f64 = (...v: number[]) => new Frame({ value: new Float64Array(v) });

Deno.test("a bound function's state sums the items; a site under a tiny memory limit flushes every item", async () => {
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

Deno.test("iterate yields the items in source order; position counts the completed ones", async () => {
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

/** Run `fn` inside the body of the first item of `loop.iterate([1, 2])`, then stop the loop. */
async function inFirstItem(loop: StatefulLoop, fn: () => void): Promise<void> {
  const it = loop.iterate([1, 2]);
  const first = await it.next();
  assert.equal(first.value && first.value.item, 1);
  try {
    fn();
  } finally {
    await it.return();
  }
}

Deno.test("misuse: buffer() outside the body of iterate() is a LoopMisuseError", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    assert.throws(() => loop.buffer("a", { v: f64(1) }), LoopMisuseError);
  });
});

Deno.test("misuse: a second iterate() on one loop is a LoopMisuseError", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    const gen = loop.iterate([1, 2]);
    assert.throws(() => loop.iterate([1]), LoopMisuseError);
    await gen.return();
  });
});

Deno.test("misuse: binding a state after iterate() was called is a LoopMisuseError", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    const gen = loop.iterate([1, 2]);
    assert.throws(() => loop.state("late", {}), LoopMisuseError);
    await gen.return();
  });
});

Deno.test("misuse: a buffer site takes the keys of its first call on every call", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    await inFirstItem(loop, () => {
      assert.equal(loop.buffer("a", { v: f64(1), w: f64(2) }, { memoryLimitMb: 1 }), undefined);
      assert.throws(() => loop.buffer("a", { v: f64(1) }), /takes the keys \[v, w\]/);
    });
  });
});

Deno.test("misuse: the frames of a buffer key keep the columns of its first frame", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    await inFirstItem(loop, () => {
      assert.equal(loop.buffer("a", { v: f64(1), w: f64(2) }, { memoryLimitMb: 1 }), undefined);
      assert.throws(
        () => loop.buffer("a", { v: new Frame({ other: new Float64Array(1) }), w: f64(1) }),
        /holds frames with columns/,
      );
    });
  });
});

Deno.test("misuse: buffering a non-Frame without options.adapter is refused", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    await inFirstItem(loop, () => {
      assert.throws(
        () => loop.buffer("b", { t: arrow.tableFromArrays({ v: new Float64Array(1) }) }),
        /pass options.adapter/,
      );
    });
  });
});

Deno.test("misuse: buffer() after the loop stopped in the middle of an item says so", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    await inFirstItem(loop, () => {});
    assert.throws(() => loop.buffer("a", undefined), /stopped in the middle of an item/);
  });
});

Deno.test("misuse: iterate() on a closed loop is a ClosedError", async () => {
  await withDir(async (dir) => {
    const loop = await StatefulLoop.open(dir);
    await loop.close();
    assert.throws(() => loop.iterate([1]), ClosedError);
  });
});

Deno.test("misuse: the constructor is internal (new StatefulLoop is a LoopMisuseError)", () => {
  assert.throws(
    () => new (StatefulLoop as unknown as new (...a: unknown[]) => unknown)("x", "y"),
    LoopMisuseError,
  );
});

Deno.test("misuse, in one run: buffer outside iterate, second iterate, binding after start, keys, columns, adapter, stopped, closed", async () => {
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
