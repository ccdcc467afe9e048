/** Loop checkpoints: an empty source persists nothing; a damaged record is a typed error. */

import assert from "node:assert/strict";
import { jsonState, StateStore } from "../state/mod.ts";
import { LoopCheckpointError } from "./errors.ts";
import { StatefulLoop } from "./loop.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-loop-cp-");

async function snapshots(dir: string): Promise<number> {
  await using store = new StateStore(dir, { readOnly: true });
  return (await store.list()).length;
}

Deno.test("an empty source persists nothing: initial values changed in code are used next run", async () => {
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      loop.state("cfg", { step: 1 });
      for await (const _ of loop.iterate([])) throw new Error("no item expected");
      assert.equal(loop.checkpoints, 0);
    }
    assert.equal(await snapshots(dir), 0);
    {
      await using loop = await StatefulLoop.open(dir);
      assert.equal(loop.resumed, false);
      const cfg = loop.state("cfg", { step: 2 }); // changed in code since
      for await (const _ of loop.items([])) throw new Error("no item expected");
      assert.equal(cfg.step, 2);
    }
    {
      await using loop = await StatefulLoop.open(dir);
      const cfg = loop.state("cfg", { step: 3 });
      for await (const _ of loop.items([10])) cfg.step++;
      assert.equal(loop.checkpoints, 1); // a run that did something saves at the end
    }
    assert.equal(await snapshots(dir), 1);
    {
      // a resumed run with no new items writes nothing either
      await using loop = await StatefulLoop.open(dir);
      assert.equal(loop.resumed, true);
      const cfg = loop.state("cfg", { step: 0 });
      for await (const _ of loop.items([10])) throw new Error("completed already");
      assert.equal(cfg.step, 4);
      assert.equal(loop.checkpoints, 0);
    }
  });
});

/** Write a snapshot whose loop component is `record` (as loop.json). */
async function plant(dir: string, record: unknown): Promise<void> {
  await using store = new StateStore(dir);
  store.register("loop", {
    saveState: (_d, ctx) => ctx.writeJson("loop.json", record),
    loadState: () => {},
  });
  await store.save();
}

function goodRecord(): Record<string, unknown> {
  return {
    format: "spool.loop",
    version: 1,
    position: 2,
    states: { agg: { kind: "state", value: { sum: 3 } } },
    sites: [{ name: "main", adapter: "frame", bytes: 0, seq: 1, keys: ["main"], counts: [0] }],
  };
}

function loopError(...patterns: RegExp[]) {
  return (e: unknown) =>
    e instanceof LoopCheckpointError && patterns.every((p) => p.test(e.message));
}

Deno.test("a well-formed planted record opens", async () => {
  await withDir(async (dir) => {
    await plant(dir, goodRecord());
    await using loop = await StatefulLoop.open(dir);
    assert.equal(loop.position, 2);
    assert.equal(loop.state("agg", { sum: 0 }).sum, 3);
  });
});

Deno.test("a loop record missing or mistyping a field is a LoopCheckpointError naming it", async () => {
  const cases: [string, (r: Record<string, unknown>) => void, RegExp][] = [
    ["no sites", (r) => delete r.sites, /"sites" is missing/],
    ["no position", (r) => delete r.position, /"position" is missing/],
    ["position string", (r) => (r.position = "2"), /"position" must be an integer >= 0/],
    ["no states", (r) => delete r.states, /"states" is missing/],
    ["states array", (r) => (r.states = []), /"states" must be an object/],
    ["state kind", (r) => (r.states = { a: { kind: "x", value: 1 } }), /"states\.a\.kind"/],
    ["state no value", (r) => (r.states = { a: { kind: "state" } }), /"states\.a\.value"/],
    ["sites object", (r) => (r.sites = {}), /"sites" must be an array/],
    [
      "site name",
      (r) => ((r.sites as Record<string, unknown>[])[0]!.name = 3),
      /"sites\[0\]\.name"/,
    ],
    ["site seq", (r) => ((r.sites as Record<string, unknown>[])[0]!.seq = -1), /"sites\[0\]\.seq"/],
    [
      "site counts",
      (r) => delete (r.sites as Record<string, unknown>[])[0]!.counts,
      /"sites\[0\]\.counts" is missing/,
    ],
    [
      "counts vs keys",
      (r) => ((r.sites as Record<string, unknown>[])[0]!.counts = [0, 0]),
      /"sites\[0\]\.counts" must have one count per key/,
    ],
    [
      "duplicate site",
      (r) => (r.sites as unknown[]).push((r.sites as unknown[])[0]),
      /"sites\[1\]\.name" is a duplicate/,
    ],
    [
      "bad tagged value",
      (r) => (r.states = { a: { kind: "state", value: { $spool: "map", v: 5 } } }),
      /"states\.a\.value" cannot be decoded/,
    ],
    ["not an object", (r) => Object.keys(r).forEach((k) => delete r[k]), /"format"/],
  ];
  for (const [label, damage, pattern] of cases) {
    await withDir(async (dir) => {
      const record = goodRecord();
      damage(record);
      await plant(dir, record);
      await assert.rejects(StatefulLoop.open(dir), loopError(pattern), label);
    });
  }
});

Deno.test("a loop record with several problems names them all", async () => {
  await withDir(async (dir) => {
    const record = goodRecord();
    delete record.position;
    delete record.sites;
    await plant(dir, record);
    await assert.rejects(
      StatefulLoop.open(dir),
      loopError(/2 problems/, /"position"/, /"sites"/),
    );
  });
});

Deno.test("a snapshot with a loop component beside others still needs a valid record", async () => {
  await withDir(async (dir) => {
    {
      await using store = new StateStore(dir);
      store.register("loop", jsonState({}));
      await store.save();
    }
    await assert.rejects(StatefulLoop.open(dir), LoopCheckpointError);
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
