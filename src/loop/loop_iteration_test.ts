/**
 * The iteration of a StatefulLoop: checkpoint triggers, sources, the iterator protocol, and one
 * behavioural spec run against each of its steps (fast, async fast, general).
 */

import assert from "node:assert/strict";
import { AbortedError } from "../errors.ts";
import { Frame } from "../frame/mod.ts";
import type { AnyIterable } from "../_internal/iterate.ts";
import { type CheckpointOptions, StatefulLoop } from "./mod.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-loop-");

const f64 = (...v: number[]) => new Frame({ value: new Float64Array(v) });

/** The positions the body sees right after each checkpoint, over a 10-item source. */
async function checkpointPositions(
  loop: StatefulLoop,
  during: (item: number) => void = () => {},
): Promise<number[]> {
  const at: number[] = [];
  let last = 0;
  for await (const step of loop.iterate(Array.from({ length: 10 }, (_, i) => i))) {
    if (!step.final) during(step.item);
    if (loop.checkpoints !== last) {
      at.push(loop.position);
      last = loop.checkpoints;
    }
  }
  return at;
}

const NONE: CheckpointOptions = { everyMs: false, afterFlush: false, atEnd: false };

Deno.test("checkpoint trigger everyItems: a checkpoint after every N completed items", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir, { checkpoint: { ...NONE, everyItems: 4 } });
    assert.deepEqual(await checkpointPositions(loop), [4, 8]);
    assert.equal(loop.checkpoints, 2);
  });
});

Deno.test("checkpoint trigger everyMs (injected clock): a checkpoint when the item completing is T ms after the last", async () => {
  await withDir(async (dir) => {
    let now = 0;
    await using loop = await StatefulLoop.open(dir, {
      checkpoint: { ...NONE, everyMs: 100 },
      clock: () => now,
    });
    const at = await checkpointPositions(loop, (item) => {
      if (item === 1) now = 150; // item 1 completes at t=150: 150 ms since the start
      if (item === 5) now = 200; // 50 ms since the last checkpoint: none
      if (item === 7) now = 260; // 110 ms since: item 7 completing checkpoints
    });
    assert.deepEqual(at, [2, 8]);
    assert.equal(loop.checkpoints, 2);
  });
});

Deno.test("checkpoint trigger afterFlush: a checkpoint after an item during which a site flushed", async () => {
  for (const afterFlush of [true, false]) {
    await withDir(async (dir) => {
      await using loop = await StatefulLoop.open(dir, { checkpoint: { ...NONE, afterFlush } });
      const at = await checkpointPositions(loop, (item) => {
        if (item === 6) loop.buffer("s", { v: f64(1) }, { memoryLimitMb: 0 }); // flushes at once
      });
      assert.deepEqual(at, afterFlush ? [7] : []);
      assert.equal(loop.checkpoints, afterFlush ? 1 : 0);
    });
  }
});

Deno.test("checkpoint trigger atEnd: one checkpoint once the source is exhausted", async () => {
  for (const atEnd of [true, false]) {
    await withDir(async (dir) => {
      await using loop = await StatefulLoop.open(dir, { checkpoint: { ...NONE, atEnd } });
      assert.deepEqual(await checkpointPositions(loop), []);
      assert.equal(loop.checkpoints, atEnd ? 1 : 0);
    });
  }
});

Deno.test("requestCheckpoint: a checkpoint when the current item completes, whatever the triggers", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir, { checkpoint: NONE });
    const at = await checkpointPositions(loop, (item) => {
      if (item === 3) loop.requestCheckpoint();
    });
    assert.deepEqual(at, [4]);
    assert.equal(loop.checkpoints, 1);
  });
});

Deno.test("checkpoint triggers together: every N items, every T ms (injected clock), after flush, at end", async () => {
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

Deno.test("sources: promises in a sync iterable are awaited", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    const got: number[] = [];
    for await (const { item } of loop.iterate([Promise.resolve(1), 2, Promise.resolve(3)])) {
      got.push(item as number);
    }
    assert.deepEqual(got, [1, 2, 3]);
  });
});

Deno.test("sources: break stops the source; the item being processed is not completed", async () => {
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

Deno.test("iterator protocol: next() without awaiting stays in order; throw() stops the loop", async () => {
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
});

Deno.test("iterator protocol: a source error reaches the caller after the completed items are checkpointed", async () => {
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

// ---- one spec, every step ----
//
// `next()` takes the fast step when the source is sync, the phase is `Items`, the loop is open,
// no checkpoint falls due with the item being completed and the signal is not aborted; the
// async fast step under the same conditions with an async source; the general step otherwise.
// A checkpoint after every item (`everyItems: 1`) makes every completion fall due, so every
// step is a general step. The same spec runs in each of the four combinations.

interface StepMode {
  readonly name: string;
  /** A source of `items` that logs "stopped" when it is stopped before its end. */
  source(items: number[], log: string[]): AnyIterable<number>;
  readonly checkpoint: CheckpointOptions;
}

function* syncSource(items: number[], log: string[]): Generator<number> {
  let done = false;
  try {
    yield* items;
    done = true;
  } finally {
    if (!done) log.push("stopped");
  }
}

async function* asyncSource(items: number[], log: string[]): AsyncGenerator<number> {
  let done = false;
  try {
    for (const x of items) yield await Promise.resolve(x);
    done = true;
  } finally {
    if (!done) log.push("stopped");
  }
}

const MODES: StepMode[] = [
  { name: "fast step", source: syncSource, checkpoint: { everyMs: false } },
  { name: "async fast step", source: asyncSource, checkpoint: { everyMs: false } },
  {
    name: "general step (sync source)",
    source: syncSource,
    checkpoint: { everyMs: false, everyItems: 1 },
  },
  {
    name: "general step (async source)",
    source: asyncSource,
    checkpoint: { everyMs: false, everyItems: 1 },
  },
];

for (const mode of MODES) {
  const open = (dir: string) => StatefulLoop.open(dir, { checkpoint: mode.checkpoint });

  Deno.test(`${mode.name}: items reach the body in order with their index; position counts the completed`, async () => {
    await withDir(async (dir) => {
      await using loop = await open(dir);
      const seen: [number, number, number][] = [];
      for await (const step of loop.iterate(mode.source([10, 20, 30], []))) {
        if (!step.final) seen.push([step.item, step.index, loop.position]);
      }
      assert.deepEqual(seen, [[10, 0, 0], [20, 1, 1], [30, 2, 2]]);
      assert.equal(loop.position, 3);
      assert.equal(loop.isFinal, false);
    });
  });

  Deno.test(`${mode.name}: items() yields the items themselves`, async () => {
    await withDir(async (dir) => {
      await using loop = await open(dir);
      const seen: number[] = [];
      for await (const x of loop.items(mode.source([1, 2, 3], []))) seen.push(x);
      assert.deepEqual(seen, [1, 2, 3]);
      assert.equal(loop.position, 3);
    });
  });

  Deno.test(`${mode.name}: break leaves the current item not completed and stops the source`, async () => {
    await withDir(async (dir) => {
      await using loop = await open(dir);
      const log: string[] = [];
      for await (const step of loop.iterate(mode.source([1, 2, 3, 4], log))) {
        if (step.item === 2) break;
      }
      assert.equal(loop.position, 1);
      assert.deepEqual(log, ["stopped"]);
      assert.throws(() => loop.buffer("a", undefined), /stopped in the middle of an item/);
    });
  });

  Deno.test(`${mode.name}: a body error leaves the item not completed, stops the source, reaches the caller`, async () => {
    await withDir(async (dir) => {
      await using loop = await open(dir);
      const log: string[] = [];
      const boom = new Error("boom");
      await assert.rejects(async () => {
        for await (const x of loop.items(mode.source([1, 2, 3, 4], log))) if (x === 3) throw boom;
      }, (e: unknown) => e === boom);
      assert.equal(loop.position, 2);
      assert.deepEqual(log, ["stopped"]);
    });
  });

  Deno.test(`${mode.name}: abort between items checkpoints the completed ones, then AbortedError`, async () => {
    await withDir(async (dir) => {
      const ac = new AbortController();
      {
        await using loop = await open(dir);
        const s = loop.state("s", { sum: 0 });
        await assert.rejects(async () => {
          const source = mode.source([1, 2, 3, 4], []);
          for await (const x of loop.items(source, { signal: ac.signal })) {
            s.sum += x;
            if (x === 2) ac.abort();
          }
        }, AbortedError);
        assert.equal(loop.position, 2);
      }
      await using loop = await open(dir);
      assert.equal(loop.position, 2);
      assert.equal(loop.state("s", { sum: 0 }).sum, 3);
    });
  });

  Deno.test(`${mode.name}: the final pass flushes what the sites hold once the source is exhausted`, async () => {
    await withDir(async (dir) => {
      await using loop = await open(dir);
      const flushes: [number, boolean, number][] = [];
      let finals = 0;
      for await (const step of loop.iterate(mode.source([1, 2, 3], []))) {
        if (step.final) {
          finals++;
          assert.equal(loop.isFinal, true);
          assert.equal(step.index, 3);
        }
        const out = loop.buffer("v", step.final ? undefined : { v: f64(step.item) });
        if (out) flushes.push([out.frames.v.length, out.final, out.seq]);
      }
      assert.equal(finals, 1);
      assert.deepEqual(flushes, [[3, true, 0]]);
      assert.equal(loop.position, 3);
    });
  });

  Deno.test(`${mode.name}: a resumed run skips the completed items of the replayed source`, async () => {
    await withDir(async (dir) => {
      {
        await using loop = await open(dir);
        const s = loop.state("s", { sum: 0 });
        for await (const x of loop.items(mode.source([1, 2, 3], []))) s.sum += x;
      }
      await using loop = await open(dir);
      assert.ok(loop.resumed);
      const s = loop.state("s", { sum: 0 });
      const seen: [number, number][] = [];
      for await (const step of loop.iterate(mode.source([1, 2, 3, 4, 5], []))) {
        if (step.final) continue;
        s.sum += step.item;
        seen.push([step.item, step.index]);
      }
      assert.deepEqual(seen, [[4, 3], [5, 4]]);
      assert.equal(s.sum, 15);
    });
  });
}
