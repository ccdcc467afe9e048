/** Every public entry point of the state store validates its options and its paths. */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { anyCondition, EveryNCondition, PeriodicSaveCondition } from "./conditions.ts";
import { SnapshotNotFoundError } from "./errors.ts";
import { LatestStatesKeeper } from "./keepers.ts";
import { jsonState } from "./states.ts";
import { StateStore, type StateStoreOptions } from "./store.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-state-opts-");

function invalid(pattern: RegExp) {
  return (e: unknown) => e instanceof InvalidArgumentError && pattern.test(e.message);
}

Deno.test("StateStore options: wrong types are named, unknown keys list the known ones", async () => {
  await withDir(async (dir) => {
    const cases: [unknown, RegExp][] = [
      [{ onStaleLock: "x" }, /onStaleLock must be a function/],
      [{ lock: "no" }, /lock must be a boolean/],
      [{ readOnly: 1 }, /readOnly must be a boolean/],
      [{ clock: 5 }, /clock must be a function/],
      [{ checksum: "md5" }, /checksum must be one of "crc32", "sha256"/],
      [{ keeper: {} }, /keeper must have a select\(\) method/],
      [{ lokc: true }, /unknown option "lokc" \(known: lock, readOnly, checksum, keeper,/],
      [[], /options must be an object/],
    ];
    for (const [options, pattern] of cases) {
      assert.throws(() => new StateStore(dir, options as StateStoreOptions), invalid(pattern));
      await assert.rejects(StateStore.open(dir, options as StateStoreOptions), invalid(pattern));
    }
    // nothing is left locked by a refused open
    await using store = new StateStore(dir);
    assert.equal(store.readOnly, false);
  });
});

Deno.test("StateStore: a path that is a file or cannot be created is an InvalidArgumentError", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/plain-file`;
    await Deno.writeTextFile(file, "x");
    assert.throws(() => new StateStore(file), invalid(/is not a directory/));
    assert.throws(() => new StateStore(file, { readOnly: true }), invalid(/is not a directory/));
    assert.throws(
      () => new StateStore(`${file}/store`),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /cannot be created/.test(e.message) &&
        e.cause instanceof Error,
    );
    assert.throws(
      () => new StateStore(`${dir}/missing`, { readOnly: true }),
      SnapshotNotFoundError,
    );
    assert.throws(() => new StateStore(`${file}/sub`, { readOnly: true }), SnapshotNotFoundError);
  });
});

Deno.test("save/load/verify options: wrong types and unknown keys are refused", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("a", jsonState(1));
    const bad = <T>(v: unknown) => v as T;
    await assert.rejects(store.save(bad({ metta: 1 })), invalid(/unknown option "metta"/));
    await assert.rejects(store.save(bad({ signal: {} })), invalid(/signal must be an AbortSignal/));
    await assert.rejects(store.save(bad(null)), invalid(/options must be an object/));
    await store.save();
    await assert.rejects(store.load("latest", bad({ fallback: "yes" })), invalid(/fallback/));
    await assert.rejects(store.load("latest", bad({ onCorrupt: 1 })), invalid(/onCorrupt/));
    await assert.rejects(
      store.load("latest", bad({ allowMissing: "no" })),
      invalid(/allowMissing/),
    );
    await assert.rejects(
      store.load("latest", bad({ fallbak: true })),
      invalid(/unknown option "fallbak" \(known: fallback, onCorrupt, allowMissing, signal\)/),
    );
    await assert.rejects(store.load("latest", bad({ signal: 1 })), invalid(/signal/));
    await assert.rejects(store.prune(bad({})), invalid(/keeper/));
  });
});

Deno.test("load/verify: a path outside the store is refused, not reported as a corrupt snapshot", async () => {
  await withDir(async (dir) => {
    const other = `${dir}/other`;
    const mine = `${dir}/mine`;
    let foreign: string;
    {
      await using store = new StateStore(other);
      store.register("a", jsonState(1));
      foreign = await store.save();
    }
    await using store = new StateStore(mine);
    store.register("a", jsonState(0));
    const own = await store.save();
    await assert.rejects(store.load("/etc"), invalid(/outside this store/));
    await assert.rejects(store.verify("/etc"), invalid(/outside this store/));
    await assert.rejects(store.load(foreign), invalid(/outside this store/));
    await assert.rejects(store.load(`${mine}/../other/000000000001.snapshot`), invalid(/outside/));
    await assert.rejects(store.load(`${mine}/foo`), SnapshotNotFoundError);
    await assert.rejects(store.load(`${mine}/000000000009.snapshot`), SnapshotNotFoundError);
    await assert.rejects(store.load("foo"), invalid(/target must be/));
    // the store's own snapshots load by path (also a relative spelling), name and sequence
    assert.equal(await store.load(own), own);
    assert.equal(
      await store.load(`${mine}/./000000000001.snapshot`),
      `${mine}/000000000001.snapshot`,
    );
    assert.equal(await store.load("000000000001.snapshot"), own);
    assert.equal(await store.load(1), own);
  });
});

Deno.test("save conditions and keepers: options and arguments are validated", async () => {
  assert.throws(() => anyCondition(5 as never), invalid(/conditions\[0\] must have a shouldSave/));
  assert.throws(
    () => anyCondition(new EveryNCondition(2), {} as never),
    invalid(/conditions\[1\]/),
  );
  assert.throws(
    () => new PeriodicSaveCondition(10, { clok: () => 0 } as never),
    invalid(/unknown option "clok" \(known: clock\)/),
  );
  assert.throws(
    () => new PeriodicSaveCondition(10, { clock: 1 } as never),
    invalid(/clock must be a function/),
  );
  assert.throws(() => new LatestStatesKeeper(-1), InvalidArgumentError);
  await assert.rejects(
    new LatestStatesKeeper(1).cleanup({} as never),
    invalid(/store must be a StateStore/),
  );
  const due = anyCondition(new EveryNCondition(1));
  assert.equal(due.shouldSave(), true);
});

Deno.test("LatestStatesKeeper.select: a non-array or an entry without a sequence is an InvalidArgumentError", () => {
  const keeper = new LatestStatesKeeper(1);
  for (const bad of [undefined, 42, "1.snapshot", { length: 1 }]) {
    assert.throws(
      () => keeper.select(bad as never),
      invalid(
        /^Cannot select snapshots to delete: snapshots must be an array of SnapshotInfo .*, received /,
      ),
    );
  }
  assert.throws(
    () => keeper.select([{ sequence: 1 }, { name: "2.snapshot" }] as never),
    invalid(
      /snapshots\[1\] must be a SnapshotInfo with an integer sequence, received \{"name":"2.snapshot"\}$/,
    ),
  );
  const infos = [3, 1, 2].map((sequence) => ({ sequence }) as never);
  assert.deepEqual(keeper.select(infos).map((s: { sequence: number }) => s.sequence), [1, 2]);
});

Deno.test("prune: a keeper whose select() returns a non-iterable or entries without a path is refused", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("n", jsonState(0));
    await store.save();
    for (
      const [returned, pattern] of [
        [
          42,
          /keeper\.select\(\) must return an iterable of the SnapshotInfo it was given, received 42$/,
        ],
        [
          ["1.snapshot"],
          /keeper\.select\(\) must return SnapshotInfo objects .*, received "1\.snapshot"$/,
        ],
      ] as const
    ) {
      await assert.rejects(
        store.prune({ select: () => returned as never }),
        invalid(new RegExp(`^Cannot prune snapshots: ${pattern.source}`)),
      );
    }
    assert.equal((await store.list()).length, 1);
  });
});
