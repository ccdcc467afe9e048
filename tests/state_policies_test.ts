/** Retention keepers and save conditions. */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../src/errors.ts";
import {
  anyCondition,
  EveryNCondition,
  jsonState,
  LatestStatesKeeper,
  PeriodicSaveCondition,
  type SnapshotInfo,
  StateStore,
} from "../src/state/mod.ts";

async function withStore(
  fn: (store: StateStore, dir: string) => Promise<void>,
  options = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spool-keep-" });
  try {
    await using store = new StateStore(dir, options);
    store.register("n", jsonState(0));
    await fn(store, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("LatestStatesKeeper: argument checks", () => {
  for (const bad of [-1, 1.5, NaN, Infinity, "2", undefined]) {
    assert.throws(() => new LatestStatesKeeper(bad as number), InvalidArgumentError);
  }
  assert.equal(new LatestStatesKeeper(0).maxKeep, 0);
});

Deno.test("LatestStatesKeeper: select keeps the newest by sequence, not by order given", () => {
  const info = (sequence: number) => ({ sequence, path: `/s/${sequence}` }) as SnapshotInfo;
  const keeper = new LatestStatesKeeper(2);
  assert.deepEqual(keeper.select([info(5), info(1), info(9), info(3)]).map((i) => i.sequence), [
    1,
    3,
  ]);
  assert.deepEqual(keeper.select([info(1)]), []);
  assert.deepEqual(new LatestStatesKeeper(0).select([info(2), info(1)]).map((i) => i.sequence), [
    1,
    2,
  ]);
});

Deno.test("prune: removes the oldest complete snapshots and returns their paths", async () => {
  await withStore(async (store) => {
    const paths = [];
    for (let i = 0; i < 5; i++) paths.push(await store.save());
    assert.deepEqual(await store.prune(new LatestStatesKeeper(2)), paths.slice(0, 3));
    assert.deepEqual((await store.list()).map((s) => s.path), paths.slice(3));
    assert.deepEqual(await new LatestStatesKeeper(2).cleanup(store), []);
    assert.deepEqual(await store.prune(new LatestStatesKeeper(0)), paths.slice(3));
    assert.deepEqual(await store.list(), []);
    assert.equal(await store.load("latest"), undefined);
    // Sequence numbers keep growing after everything was removed.
    assert.ok((await store.save()).endsWith("000000000006.snapshot"));
  });
});

Deno.test("prune: only complete snapshots count; temp dirs and damaged ones are untouched", async () => {
  await withStore(async (store, dir) => {
    for (let i = 0; i < 3; i++) await store.save();
    // A save in progress by another (unlocked) writer, and a damaged snapshot directory.
    const writing = `${dir}/.tmp-9-0123456789ab`;
    Deno.mkdirSync(`${writing}/n`, { recursive: true });
    Deno.mkdirSync(`${dir}/000000000004.snapshot`);
    const removed = await store.prune(new LatestStatesKeeper(1));
    assert.equal(removed.length, 2, "3 complete snapshots, keep 1");
    assert.ok(Deno.statSync(writing).isDirectory, "the save in progress is kept");
    assert.ok(Deno.statSync(`${dir}/000000000004.snapshot`).isDirectory);
    assert.deepEqual((await store.list()).map((s) => s.sequence), [3]);
    assert.deepEqual(await store.prune(new LatestStatesKeeper(0)), [
      `${dir}/000000000003.snapshot`,
    ]);
    assert.ok(Deno.statSync(writing).isDirectory);
  });
});

Deno.test("prune: a custom keeper cannot remove anything that is not a listed snapshot", async () => {
  await withStore(async (store, dir) => {
    await store.save();
    Deno.mkdirSync(`${dir}/precious`);
    const removed = await store.prune({
      select: () => [{ path: `${dir}/precious` } as SnapshotInfo, { path: dir } as SnapshotInfo],
    });
    assert.deepEqual(removed, []);
    assert.ok(Deno.statSync(`${dir}/precious`).isDirectory);
    assert.equal((await store.list()).length, 1);
    await assert.rejects(store.prune({} as never), InvalidArgumentError);
  });
});

Deno.test("keeper option: retention after every save; concurrent prune waits for the save", async () => {
  await withStore(async (store) => {
    const counter = store.register("c", jsonState(0));
    for (let i = 1; i <= 6; i++) {
      counter.value = i;
      await store.save();
      assert.ok((await store.list()).length <= 3);
    }
    assert.deepEqual((await store.list()).map((s) => s.sequence), [4, 5, 6]);
    const saving = store.save();
    const pruning = store.prune(new LatestStatesKeeper(1));
    const [path, removed] = await Promise.all([saving, pruning]);
    assert.ok(!removed.includes(path), "the snapshot just written is the newest: kept");
    assert.deepEqual((await store.list()).map((s) => s.path), [path]);
    counter.value = 0;
    await store.load("latest");
    assert.equal(counter.value, 6);
  }, { keeper: new LatestStatesKeeper(3) });
});

Deno.test("PeriodicSaveCondition: first call arms, due after the interval, re-arms", () => {
  let now = 1000;
  const due = new PeriodicSaveCondition(100, { clock: () => now });
  assert.equal(due.intervalMs, 100);
  assert.equal(due.shouldSave(), false, "first call arms");
  now = 1099;
  assert.equal(due.shouldSave(), false);
  now = 1100;
  assert.equal(due.shouldSave(), true);
  assert.equal(due.shouldSave(), false, "re-armed at 1100");
  now = 1500; // a long pause: one true, no burst of catch-up saves
  assert.equal(due.shouldSave(), true);
  assert.equal(due.shouldSave(), false);
  now = 1599;
  assert.equal(due.shouldSave(), false);
  due.reset();
  now = 5000;
  assert.equal(due.shouldSave(), false, "after reset the first call arms again");
  now = 5100;
  assert.equal(due.shouldSave(), true);
});

Deno.test("PeriodicSaveCondition: zero interval and bad intervals", () => {
  let now = 0;
  const always = new PeriodicSaveCondition(0, { clock: () => now });
  assert.equal(always.shouldSave(), false);
  assert.equal(always.shouldSave(), true);
  now = 1;
  assert.equal(always.shouldSave(), true);
  for (const bad of [-1, NaN, Infinity, "5", undefined]) {
    assert.throws(() => new PeriodicSaveCondition(bad as number), InvalidArgumentError);
  }
  // The default clock works without injection.
  assert.equal(new PeriodicSaveCondition(60_000).shouldSave(), false);
});

Deno.test("EveryNCondition: due on every n-th call; bad n refused", () => {
  const every3 = new EveryNCondition(3);
  assert.deepEqual(Array.from({ length: 7 }, () => every3.shouldSave()), [
    false,
    false,
    true,
    false,
    false,
    true,
    false,
  ]);
  every3.reset();
  assert.deepEqual([every3.shouldSave(), every3.shouldSave(), every3.shouldSave()], [
    false,
    false,
    true,
  ]);
  const every1 = new EveryNCondition(1);
  assert.deepEqual([every1.shouldSave(), every1.shouldSave()], [true, true]);
  for (const bad of [0, -1, 1.5, NaN, "2", undefined]) {
    assert.throws(() => new EveryNCondition(bad as number), InvalidArgumentError);
  }
});

Deno.test("anyCondition: due when any is due; every condition is advanced", () => {
  let now = 0;
  const time = new PeriodicSaveCondition(10, { clock: () => now });
  const count = new EveryNCondition(4);
  const any = anyCondition(time, count);
  const answers = [];
  for (let i = 0; i < 8; i++) {
    now = i * 3;
    answers.push(any.shouldSave());
  }
  // time: arms at 0, due at 12 (i=4), then at 24 (i=8, not reached); count: due at i=3, i=7.
  assert.deepEqual(answers, [false, false, false, true, true, false, false, true]);
});

Deno.test("keeper option: a failing keeper rejects the save but the snapshot is published", async () => {
  await withStore(async (store) => {
    await assert.rejects(store.save(), /keeper broke/);
    const list = await store.list();
    assert.equal(list.length, 1);
    await store.verify(list[0]!.path);
  }, {
    keeper: {
      select() {
        throw new Error("keeper broke");
      },
    },
  });
});
