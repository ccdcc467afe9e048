/** StateStore retention: `prune` with a keeper, and the `keeper` option applied after each save. */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { LatestStatesKeeper } from "./keepers.ts";
import type { SnapshotInfo } from "./snapshot_reader.ts";
import { jsonState } from "./states.ts";
import { StateStore, type StateStoreOptions } from "./store.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

/** A store with one JSON component `n` (as the retention tests use). */
async function withStore(
  fn: (store: StateStore, dir: string) => Promise<void>,
  options: StateStoreOptions = {},
): Promise<void> {
  await withTempDir(async (dir) => {
    await using store = new StateStore(dir, options);
    store.register("n", jsonState(0));
    await fn(store, dir);
  }, "spool-keep-");
}

Deno.test("prune: removes the oldest complete snapshots and returns their paths", async () => {
  await withStore(async (store) => {
    const paths = [];
    for (let i = 0; i < 5; i++) paths.push(await store.save());
    assert.deepEqual(await store.prune(new LatestStatesKeeper(2)), paths.slice(0, 3));
    assert.deepEqual((await store.list()).map((s) => s.path), paths.slice(3));
    assert.deepEqual(await new LatestStatesKeeper(2).cleanup(store), []);
  });
});

Deno.test('prune: keeping none removes every snapshot; "latest" then loads nothing', async () => {
  await withStore(async (store) => {
    const paths = [];
    for (let i = 0; i < 2; i++) paths.push(await store.save());
    assert.deepEqual(await store.prune(new LatestStatesKeeper(0)), paths);
    assert.deepEqual(await store.list(), []);
    assert.equal(await store.load("latest"), undefined);
  });
});

Deno.test("sequence: keeps growing after every snapshot was pruned", async () => {
  await withStore(async (store) => {
    for (let i = 0; i < 5; i++) await store.save();
    await store.prune(new LatestStatesKeeper(0));
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
  });
});

Deno.test("prune: a keeper without select() is an InvalidArgumentError", async () => {
  await withStore(async (store) => {
    await assert.rejects(store.prune({} as never), InvalidArgumentError);
  });
});

Deno.test("keeper option: retention runs after every save", async () => {
  await withStore(async (store) => {
    const counter = store.register("c", jsonState(0));
    for (let i = 1; i <= 6; i++) {
      counter.value = i;
      await store.save();
      assert.ok((await store.list()).length <= 3);
    }
    assert.deepEqual((await store.list()).map((s) => s.sequence), [4, 5, 6]);
  }, { keeper: new LatestStatesKeeper(3) });
});

Deno.test("keeper option: a concurrent prune waits for the save; the newest snapshot is kept", async () => {
  await withStore(async (store) => {
    const counter = store.register("c", jsonState(0));
    for (let i = 1; i <= 5; i++) {
      counter.value = i;
      await store.save();
    }
    counter.value = 6;
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
