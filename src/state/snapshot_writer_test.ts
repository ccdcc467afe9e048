/** The save protocol: what a save writes, refuses, cancels and how it numbers snapshots. */

import assert from "node:assert/strict";
import { AbortedError, InvalidArgumentError } from "../errors.ts";
import type { SaveContext } from "./context.ts";
import { StateComponentError } from "./errors.ts";
import { jsonState } from "./states.ts";
import { StateStore } from "./store.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-state-");

const MISUSES: [string, (ctx: SaveContext) => Promise<void>][] = [
  ["a file name written twice", (ctx) => ctx.writeJson("x.json", 2)],
  ["a file name with a path", (ctx) => ctx.writeJson("../x", 2)],
  ["undefined as JSON", (ctx) => ctx.writeJson("y.json", undefined)],
  ["a bigint inside JSON", (ctx) => ctx.writeJson("z.json", { b: 1n })],
  ["a plain array as an array", (ctx) => ctx.writeArray("a.bin", [1, 2] as never)],
  ["a DataView as an array", (ctx) => ctx.writeArray("d.bin", new DataView(new ArrayBuffer(2)))],
  ["a plain array as bytes", (ctx) => ctx.writeBytes("b.bin", [1] as never)],
];

for (const [what, misuse] of MISUSES) {
  Deno.test(`SaveContext: ${what} is an InvalidArgumentError; the save goes on`, async () => {
    await withDir(async (dir) => {
      await using store = new StateStore(dir);
      const errors: unknown[] = [];
      store.register("bad", {
        async saveState(_d: string, ctx: SaveContext) {
          await ctx.writeJson("x.json", 1);
          try {
            await misuse(ctx);
          } catch (e) {
            errors.push(e);
          }
        },
        loadState() {},
      });
      await store.save();
      assert.equal(errors.length, 1);
      for (const e of errors) assert.ok(e instanceof InvalidArgumentError, String(e));
    });
  });
}

Deno.test("save: a failing saveState is a StateComponentError naming it; no snapshot is left", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("good", jsonState(1));
    await store.save();
    store.register("boom", {
      saveState(_d: string, ctx: SaveContext) {
        void ctx.writeArray("big.bin", new Float64Array(1000)); // not awaited: store drains it
        throw new Error("disk on fire");
      },
      loadState() {},
    });
    await assert.rejects(store.save(), (e: unknown) => {
      assert.ok(e instanceof StateComponentError);
      assert.equal(e.component, "boom");
      assert.match(e.message, /disk on fire/);
      return true;
    });
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [".lock", "000000000001.snapshot"]);
    assert.equal((await store.list()).length, 1);
  });
});

Deno.test("save: unawaited context writes of a synchronous saveState are completed", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const data = new Float64Array(1 << 16).map((_, i) => i);
    store.register("sync", {
      saveState(_d: string, ctx: SaveContext) {
        void ctx.writeArray("a.bin", data);
        void ctx.writeJson("b.json", [1, 2]);
      },
      loadState() {},
    });
    const path = await store.save();
    const info = await store.verify(path);
    assert.equal(info.bytes, data.byteLength + 5);
  });
});

Deno.test("save: a read-only plain file written by a component is saved", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("p", {
      async saveState(d: string) {
        await Deno.writeTextFile(`${d}/ro.txt`, "read only");
        await Deno.chmod(`${d}/ro.txt`, 0o444);
      },
      loadState() {},
    });
    const path = await store.save();
    assert.equal((await store.verify(path)).files, 1);
  });
});

Deno.test("save: a symlink written by a component is a StateComponentError; no snapshot is left", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    let link = false;
    store.register("p", {
      async saveState(d: string) {
        await Deno.writeTextFile(`${d}/ro.txt`, "read only");
        if (link) await Deno.symlink("/etc/hostname", `${d}/link`);
      },
      loadState() {},
    });
    await store.save();
    link = true;
    await assert.rejects(store.save(), (e: unknown) => {
      assert.ok(e instanceof StateComponentError);
      assert.match(e.message, /only regular files and directories/);
      return true;
    });
    assert.equal((await store.list()).length, 1);
  });
});

Deno.test("save: a component registered during a save joins the next one", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("a", {
      saveState(_d: string, ctx: SaveContext) {
        store.register("late", jsonState("late"));
        return ctx.writeJson("v.json", 1);
      },
      loadState() {},
    });
    const first = await store.verify(await store.save());
    assert.deepEqual(first.components, ["a"]);
    store.unregister("a");
    const second = await store.verify(await store.save());
    assert.deepEqual(second.components, ["late"]);
  });
});

Deno.test("abort: a save aborted during a component leaves nothing in the store", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const controller = new AbortController();
    store.register("a", jsonState(1));
    store.register("b", {
      saveState(_d: string, ctx: SaveContext) {
        controller.abort(new Error("stop"));
        return ctx.writeJson("v.json", 2);
      },
      loadState() {},
    });
    await assert.rejects(store.save({ signal: controller.signal }), AbortedError);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [".lock"]);
  });
});

Deno.test("abort: a save with an already aborted signal is refused; the next save works", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    store.register("a", jsonState(1));
    await assert.rejects(store.save({ signal: controller.signal }), AbortedError);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [".lock"]);
    assert.ok((await store.save()).endsWith("000000000001.snapshot"));
  });
});

Deno.test("abort: a hanging saveState is abandoned when the signal aborts", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    let release: () => void = () => {};
    const hang = new Promise<void>((resolve) => (release = resolve));
    store.register("slow", { saveState: () => hang, loadState() {} });
    const controller = new AbortController();
    const saving = store.save({ signal: controller.signal });
    controller.abort();
    await assert.rejects(saving, AbortedError);
    release();
    assert.deepEqual(await store.list(), []);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [".lock"]);
  });
});

Deno.test("sequence: concurrent saves are serialized and get distinct names, listed by sequence", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const counter = store.register("c", jsonState(0));
    const paths: string[] = [];
    // Concurrent saves are serialized; all happen within a few milliseconds.
    const pending = [];
    for (let i = 0; i < 12; i++) {
      counter.value = i;
      pending.push(store.save({ meta: { i } }));
    }
    paths.push(...await Promise.all(pending));
    assert.equal(new Set(paths).size, 12);
    const list = await store.list();
    assert.deepEqual(list.map((s) => s.sequence), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual(list.map((s) => s.path), paths);
    assert.deepEqual(list.map((s) => (s.meta as { i: number }).i), [...Array(12).keys()]);
    assert.ok(list.every((s, i) => i === 0 || s.createdAt >= list[i - 1]!.createdAt));
    assert.equal((await store.latest())?.sequence, 12);
  });
});

Deno.test("sequence: continues from the highest snapshot name after reopening, past a gap", async () => {
  await withDir(async (dir) => {
    const paths: string[] = [];
    {
      await using store = new StateStore(dir);
      store.register("c", jsonState(0));
      for (let i = 0; i < 12; i++) paths.push(await store.save());
    }
    Deno.removeSync(paths[11]!, { recursive: true });
    Deno.removeSync(paths[5]!, { recursive: true });
    await using again = new StateStore(dir);
    again.register("c", jsonState(0));
    assert.ok((await again.save()).endsWith("000000000012.snapshot"));
    assert.ok((await again.save()).endsWith("000000000013.snapshot"));
  });
});

Deno.test("sequence: saves with an identical clock still get distinct names", async () => {
  await withDir(async (dir) => {
    const frozen = Date.UTC(2026, 0, 1);
    await using store = new StateStore(dir, { clock: () => frozen });
    store.register("a", jsonState(0));
    const paths = [await store.save(), await store.save(), await store.save()];
    assert.equal(new Set(paths).size, 3);
    const list = await store.list();
    assert.deepEqual(list.map((s) => s.createdAt.getTime()), [frozen, frozen, frozen]);
    assert.deepEqual(list.map((s) => s.sequence), [1, 2, 3]);
    assert.equal((await store.latest())?.path, paths[2]);
  });
});
