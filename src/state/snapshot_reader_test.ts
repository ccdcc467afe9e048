/** The read side: which snapshot a target names, what a load applies, refuses and cancels. */

import assert from "node:assert/strict";
import { AbortedError, InvalidArgumentError } from "../errors.ts";
import type { SaveContext } from "./context.ts";
import { SnapshotNotFoundError, StateComponentError, StateMismatchError } from "./errors.ts";
import { type JsonState, jsonState } from "./states.ts";
import { StateStore } from "./store.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-state-");

/** A store with component `c` saved twice (value 1, then 2); `c.value` is 2 afterwards. */
async function withTwoSnapshots(
  fn: (store: StateStore, c: JsonState<number>, p1: string, dir: string) => Promise<void>,
): Promise<void> {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const c = store.register("c", jsonState(0));
    c.value = 1;
    const p1 = await store.save();
    c.value = 2;
    await store.save();
    await fn(store, c, p1, dir);
  });
}

Deno.test('load: "latest" (the default) on an empty store loads nothing and returns undefined', async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("c", jsonState(0));
    assert.equal(await store.load("latest"), undefined, "empty store: nothing to load");
    assert.equal(await store.load(), undefined);
  });
});

Deno.test("load: a snapshot path selects that snapshot and is returned", async () => {
  await withTwoSnapshots(async (store, c, p1) => {
    assert.equal(await store.load(p1), p1);
    assert.equal(c.value, 1);
  });
});

Deno.test("load: a sequence number selects that snapshot", async () => {
  await withTwoSnapshots(async (store, c, p1) => {
    await store.load(p1);
    await store.load(2);
    assert.equal(c.value, 2);
  });
});

Deno.test("load: a snapshot directory name selects that snapshot of this store", async () => {
  await withTwoSnapshots(async (store, c) => {
    await store.load("000000000001.snapshot");
    assert.equal(c.value, 1);
  });
});

Deno.test("load/verify: a target naming no snapshot is a SnapshotNotFoundError", async () => {
  await withTwoSnapshots(async (store, _c, _p1, dir) => {
    await assert.rejects(store.load(`${dir}/nope.snapshot`), SnapshotNotFoundError);
    await assert.rejects(store.load(7), SnapshotNotFoundError);
    await assert.rejects(store.load(`${dir}/.lock`), SnapshotNotFoundError);
    await assert.rejects(store.verify(9), SnapshotNotFoundError);
  });
});

Deno.test("load: a negative sequence or an empty string is an InvalidArgumentError", async () => {
  await withTwoSnapshots(async (store) => {
    await assert.rejects(store.load(-1), InvalidArgumentError);
    await assert.rejects(store.load(""), InvalidArgumentError);
  });
});

Deno.test("load: a registered component absent from the snapshot is a StateMismatchError; nothing is loaded", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const a = store.register("a", jsonState("saved"));
    await store.save();
    a.value = "changed";
    store.register("b", jsonState("b0"));
    await assert.rejects(store.load("latest"), StateMismatchError);
    assert.equal(a.value, "changed", "nothing loaded");
  });
});

Deno.test("load: allowMissing loads the components present and leaves the absent one alone", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const a = store.register("a", jsonState("saved"));
    await store.save();
    a.value = "changed";
    const b = store.register("b", jsonState("b0"));
    await store.load("latest", { allowMissing: true });
    assert.equal(a.value, "saved");
    assert.equal(b.value, "b0");
  });
});

Deno.test("load: a component of the snapshot that is not registered is not loaded", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const a = store.register("a", jsonState("saved"));
    await store.save();
    store.unregister("a");
    const other = store.register("other", jsonState(0));
    await store.save();
    store.unregister("other");
    store.register("a", a);
    await assert.rejects(store.load("latest"), StateMismatchError);
    assert.equal(other.value, 0);
  });
});

Deno.test("load: a failing loadState is a StateComponentError naming it", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("x", {
      saveState(_d: string, ctx: SaveContext) {
        return ctx.writeJson("v.json", 1);
      },
      loadState() {
        throw new TypeError("bad shape");
      },
    });
    await store.save();
    await assert.rejects(store.load("latest"), (e: unknown) => {
      assert.ok(e instanceof StateComponentError);
      assert.equal(e.component, "x");
      assert.ok(e.cause instanceof TypeError);
      return true;
    });
  });
});

Deno.test("abort: an aborted load loads nothing; the same load without the signal works", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    const a = store.register("a", jsonState(1));
    const path = await store.save();
    a.value = 5;
    await assert.rejects(store.load(path, { signal: controller.signal }), AbortedError);
    assert.equal(a.value, 5);
    await store.load(path);
    assert.equal(a.value, 1);
  });
});
