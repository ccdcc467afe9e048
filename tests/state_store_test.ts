/** StateStore: registration, round trips, listing, sequencing, locking. */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { AbortedError, ClosedError, InvalidArgumentError } from "../src/errors.ts";
import {
  arrayState,
  DuplicateStateError,
  jsonState,
  type LoadContext,
  recordState,
  type SaveContext,
  SnapshotNotFoundError,
  StateComponentError,
  StateMismatchError,
  StateStore,
  StoreLockedError,
} from "../src/state/mod.ts";
import { withTempDir } from "./temp_dir.ts";

const LOCK_CHILD = fileURLToPath(new URL("./fixtures/state_lock_child.ts", import.meta.url));

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-state-");

const noop = { saveState() {}, loadState() {} };

Deno.test("register: duplicate names are a DuplicateStateError", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("a", jsonState(1));
    assert.throws(() => store.register("a", jsonState(2)), DuplicateStateError);
    assert.equal(store.unregister("a"), true);
    assert.equal(store.unregister("a"), false);
    store.register("a", jsonState(3));
    assert.deepEqual(store.names, ["a"]);
  });
});

Deno.test("register: bad names and bad objects are InvalidArgumentError", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const bad = [
      "",
      "a/b",
      "a\\b",
      "..",
      "a..b",
      ".hidden",
      "-dash",
      "sp ace",
      "ü",
      "manifest.json",
      "x".repeat(129),
      "nul\0",
      42,
      undefined,
    ];
    for (const name of bad) {
      assert.throws(
        () => store.register(name as string, jsonState(0)),
        InvalidArgumentError,
        `name ${JSON.stringify(name)} must be refused`,
      );
    }
    for (const good of ["a", "A_b-c.d", "0", "x".repeat(128), "model.v2"]) {
      store.register(good, jsonState(0));
    }
    assert.throws(() => store.register("obj", {} as never), InvalidArgumentError);
    assert.throws(() => store.register("obj", null as never), InvalidArgumentError);
  });
});

Deno.test("constructor: bad arguments", async () => {
  await withDir((dir) => {
    assert.throws(() => new StateStore(""), InvalidArgumentError);
    assert.throws(() => new StateStore(dir, { checksum: "md5" as never }), InvalidArgumentError);
    assert.throws(() => new StateStore(dir, { keeper: {} as never }), InvalidArgumentError);
    assert.throws(
      () => new StateStore(`${dir}/missing`, { readOnly: true }),
      SnapshotNotFoundError,
    );
  });
});

const KINDS = [
  new Int8Array([-128, 0, 127]),
  new Uint8Array([0, 1, 255]),
  new Uint8ClampedArray([0, 128, 255]),
  new Int16Array([-32768, 0, 32767]),
  new Uint16Array([0, 1, 65535]),
  new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]),
  new Uint32Array([0, 1, 2 ** 32 - 1]),
  new Float32Array([-1.5, 0, Infinity]),
  new Float64Array([Math.PI, -0, NaN, -Infinity, Number.MIN_VALUE]),
  new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]),
  new BigUint64Array([0n, 1n, 2n ** 64n - 1n]),
];

for (const checksum of ["crc32", "sha256"] as const) {
  Deno.test(`round trip (${checksum}): JSON values and every typed array kind`, async () => {
    await withDir(async (dir) => {
      const json = { a: 1, nested: { list: [1, "two", null, true] }, s: "ünïcødé" };
      const arrays = KINDS.map((a) => a.slice());
      {
        await using store = new StateStore(dir, { checksum });
        store.register("json", jsonState(structuredClone(json)));
        arrays.forEach((a, i) => store.register(`arr${i}`, arrayState(a)));
        // An odd offset view: only its own bytes are stored.
        const big = new Uint8Array([9, 9, 1, 2, 3, 9]);
        store.register("view", arrayState(big.subarray(2, 5)));
        store.register("empty", arrayState(new Float64Array(0)));
        await store.save();
      }
      await using store = new StateStore(dir);
      const j = store.register("json", jsonState<unknown>(null));
      const loaded = arrays.map((a, i) =>
        store.register(`arr${i}`, arrayState(new (a.constructor as Float64ArrayConstructor)(0)))
      );
      const view = store.register("view", arrayState(new Uint8Array(0)));
      const empty = store.register("empty", arrayState(new Float64Array(7)));
      assert.ok((await store.load("latest"))?.endsWith("000000000001.snapshot"));
      assert.deepEqual(j.value, json);
      loaded.forEach((s, i) => {
        assert.equal(s.value.constructor, arrays[i]!.constructor);
        assert.deepEqual(s.value, arrays[i]);
      });
      assert.deepEqual(view.value, new Uint8Array([1, 2, 3]));
      assert.equal(empty.value.length, 0);
    });
  });
}

Deno.test("round trip: recordState keeps key order, arrays binary, rest JSON", async () => {
  await withDir(async (dir) => {
    const value = {
      "weird key/with ..": new Int32Array([1, 2]),
      names: ["a", "b"],
      pos: 42,
      ts: new Float64Array([0.5, 1.5]),
      flushSeq: 3,
    };
    {
      await using store = new StateStore(dir);
      store.register("cols", recordState(value));
      const path = await store.save();
      const files = [...Deno.readDirSync(`${path}/cols`)].map((e) => e.name).sort();
      assert.deepEqual(files, ["col-0.bin", "col-1.bin", "fields.json", "index.json"]);
      assert.equal(Deno.statSync(`${path}/cols/col-1.bin`).size, 16);
    }
    await using store = new StateStore(dir);
    const r = store.register("cols", recordState<Record<string, unknown>>({}));
    await store.load("latest");
    assert.deepEqual(Object.keys(r.value), Object.keys(value));
    assert.deepEqual(r.value, value);
  });
});

Deno.test("round trip: plain files and sub-directories written by a component", async () => {
  await withDir(async (dir) => {
    let seen: string[] = [];
    let text = "";
    const plain = {
      async saveState(d: string, ctx: SaveContext) {
        await Deno.mkdir(`${d}/sub/deeper`, { recursive: true });
        await Deno.writeTextFile(`${d}/sub/deeper/a.txt`, "alpha");
        await Deno.writeFile(`${d}/raw.bin`, new Uint8Array([1, 2, 3]));
        await ctx.writeJson("meta.json", { v: 1 });
      },
      async loadState(d: string, ctx: LoadContext) {
        seen = ctx.files().sort();
        text = await Deno.readTextFile(`${d}/sub/deeper/a.txt`);
        assert.deepEqual(ctx.readBytes("raw.bin"), new Uint8Array([1, 2, 3]));
        assert.deepEqual(ctx.readJson("meta.json"), { v: 1 });
        assert.equal(ctx.has("sub/deeper/a.txt"), true);
        assert.equal(ctx.has("nope"), false);
        assert.throws(() => ctx.readJson("nope"), StateMismatchError);
        assert.throws(() => ctx.readArray("meta.json"), InvalidArgumentError);
      },
    };
    await using store = new StateStore(dir);
    store.register("plain", plain);
    const path = await store.save();
    const info = await store.verify(path);
    assert.equal(info.files, 3);
    assert.equal(info.bytes, 5 + 3 + 7);
    await store.load(path);
    assert.deepEqual(seen, ["meta.json", "raw.bin", "sub/deeper/a.txt"]);
    assert.equal(text, "alpha");
  });
});

Deno.test("save: context misuse is refused; a failing component leaves no snapshot", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const errors: unknown[] = [];
    store.register("bad", {
      async saveState(_d: string, ctx: SaveContext) {
        await ctx.writeJson("x.json", 1);
        for (
          const f of [
            () => ctx.writeJson("x.json", 2),
            () => ctx.writeJson("../x", 2),
            () => ctx.writeJson("y.json", undefined),
            () => ctx.writeJson("z.json", { b: 1n }),
            () => ctx.writeArray("a.bin", [1, 2] as never),
            () => ctx.writeArray("d.bin", new DataView(new ArrayBuffer(2))),
            () => ctx.writeBytes("b.bin", [1] as never),
          ]
        ) {
          try {
            await f();
          } catch (e) {
            errors.push(e);
          }
        }
      },
      loadState() {},
    });
    await store.save();
    assert.equal(errors.length, 7);
    for (const e of errors) assert.ok(e instanceof InvalidArgumentError, String(e));

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

Deno.test("list: sorted by sequence; same-millisecond saves get distinct names", async () => {
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
    // Sequence continues after reopening, even past a gap.
    await store.close();
    Deno.removeSync(paths[11]!, { recursive: true });
    await using again = new StateStore(dir);
    again.register("c", jsonState(0));
    assert.ok((await again.save()).endsWith("000000000012.snapshot"));
    assert.ok((await again.save()).endsWith("000000000013.snapshot"));
  });
});

Deno.test("load: explicit targets (path, name, sequence) and errors", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const c = store.register("c", jsonState(0));
    assert.equal(await store.load("latest"), undefined, "empty store: nothing to load");
    assert.equal(await store.load(), undefined);
    c.value = 1;
    const p1 = await store.save();
    c.value = 2;
    await store.save();
    assert.equal(await store.load(p1), p1);
    assert.equal(c.value, 1);
    await store.load(2);
    assert.equal(c.value, 2);
    await store.load("000000000001.snapshot");
    assert.equal(c.value, 1);
    await assert.rejects(store.load(`${dir}/nope.snapshot`), SnapshotNotFoundError);
    await assert.rejects(store.load(7), SnapshotNotFoundError);
    await assert.rejects(store.load(`${dir}/.lock`), SnapshotNotFoundError);
    await assert.rejects(store.load(-1), InvalidArgumentError);
    await assert.rejects(store.load(""), InvalidArgumentError);
    await assert.rejects(store.verify(9), SnapshotNotFoundError);
  });
});

Deno.test("load: a registered component missing from the snapshot", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const a = store.register("a", jsonState("saved"));
    await store.save();
    a.value = "changed";
    const b = store.register("b", jsonState("b0"));
    await assert.rejects(store.load("latest"), StateMismatchError);
    assert.equal(a.value, "changed", "nothing loaded");
    await store.load("latest", { allowMissing: true });
    assert.equal(a.value, "saved");
    assert.equal(b.value, "b0");
    // Extra components in the snapshot are ignored.
    store.unregister("a");
    store.unregister("b");
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

Deno.test("close: idempotent, later use is a ClosedError, lock released", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    store.register("a", noop);
    const saving = store.save();
    await store.close(); // waits for the save
    await saving;
    await store.close();
    assert.throws(() => store.register("b", noop), ClosedError);
    await assert.rejects(store.save(), ClosedError);
    await assert.rejects(store.load("latest"), ClosedError);
    await assert.rejects(store.list(), ClosedError);
    assert.equal(Deno.readTextFileSync(`${dir}/.lock`), "", "lock file emptied on release");
    await using again = new StateStore(dir);
    assert.equal(again.staleLock, undefined);
    assert.equal((await again.list()).length, 1);
  });
});

Deno.test("lock: a second store in the same process is refused", async () => {
  await withDir(async (dir) => {
    await using first = new StateStore(dir);
    assert.throws(() => new StateStore(dir), (e: unknown) => {
      assert.ok(e instanceof StoreLockedError);
      assert.equal(e.holder?.pid, Deno.pid);
      return true;
    });
    await assert.rejects(StateStore.open(dir), StoreLockedError);
    // Read-only stores need no lock and cannot write.
    await using reader = new StateStore(dir, { readOnly: true });
    assert.deepEqual(await reader.list(), []);
    await assert.rejects(reader.save(), ClosedError);
    await assert.rejects(reader.prune({ select: () => [] }), ClosedError);
    await first.close();
    await using second = new StateStore(dir);
    assert.equal(second.readOnly, false);
  });
});

async function runLockChild(mode: "try", dir: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", LOCK_CHILD, mode, dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

Deno.test("lock: a second process is refused with StoreLockedError naming our pid", async () => {
  await withDir(async (dir) => {
    {
      await using _store = new StateStore(dir);
      const result = await runLockChild("try", dir);
      assert.deepEqual(result, {
        ok: false,
        name: "StoreLockedError",
        isLocked: true,
        holderPid: Deno.pid,
      });
    }
    // Released: the child can now take it, and it is not stale.
    assert.deepEqual(await runLockChild("try", dir), { ok: true, stale: null });
  });
});

Deno.test("lock: the lock of a SIGKILLed writer is stale and taken over", async () => {
  await withDir(async (dir) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", LOCK_CHILD, "hold", dir],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("locked")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    assert.match(text, /locked/);
    // While it lives, we are refused.
    assert.throws(() => new StateStore(dir), StoreLockedError);
    child.kill("SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL");
    while (!(await reader.read()).done) { /* drain */ }
    await child.stderr.cancel();
    const seen: number[] = [];
    await using store = new StateStore(dir, { onStaleLock: (h) => seen.push(h.pid) });
    assert.equal(store.staleLock?.pid, child.pid);
    assert.deepEqual(seen, [child.pid]);
  });
});

Deno.test("lock: lock:false opens beside a writer (unsafe, documented)", async () => {
  await withDir(async (dir) => {
    await using writer = new StateStore(dir);
    writer.register("a", jsonState(1));
    await writer.save();
    await using loose = new StateStore(dir, { lock: false });
    const a = loose.register("a", jsonState(0));
    await loose.load("latest");
    assert.equal(a.value, 1);
  });
});

Deno.test("abort: an aborted save leaves nothing; an aborted load loads nothing", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const controller = new AbortController();
    const a = store.register("a", jsonState(1));
    store.register("b", {
      saveState(_d: string, ctx: SaveContext) {
        controller.abort(new Error("stop"));
        return ctx.writeJson("v.json", 2);
      },
      loadState() {},
    });
    await assert.rejects(store.save({ signal: controller.signal }), AbortedError);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [".lock"]);
    await assert.rejects(store.save({ signal: controller.signal }), AbortedError);
    const path = await store.save();
    a.value = 5;
    await assert.rejects(store.load(path, { signal: controller.signal }), AbortedError);
    assert.equal(a.value, 5);
    await store.load(path);
    assert.equal(a.value, 1);
  });
});

Deno.test("save: read-only plain files are fine; symlinks are refused", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    let link = false;
    store.register("p", {
      async saveState(d: string) {
        await Deno.writeTextFile(`${d}/ro.txt`, "read only");
        await Deno.chmod(`${d}/ro.txt`, 0o444);
        if (link) await Deno.symlink("/etc/hostname", `${d}/link`);
      },
      loadState() {},
    });
    const path = await store.save();
    assert.equal((await store.verify(path)).files, 1);
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

Deno.test("re-entrancy: a component calling its own store is refused, not deadlocked", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const seen: unknown[] = [];
    store.register("sneaky", {
      async saveState() {
        for (const f of [() => store.save(), () => store.load(1), () => store.close()]) {
          try {
            await f();
          } catch (e) {
            seen.push(e);
          }
        }
      },
      async loadState() {
        try {
          await store.save();
        } catch (e) {
          seen.push(e);
        }
      },
    });
    const path = await store.save();
    await store.load(path);
    assert.equal(seen.length, 4);
    for (const e of seen) assert.ok(e instanceof InvalidArgumentError, String(e));
    // Other async contexts still queue normally.
    const [a, b] = await Promise.all([store.save(), store.save()]);
    assert.notEqual(a, b);
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

Deno.test("same millisecond: saves with an identical clock still get distinct names", async () => {
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
    assert.throws(() => new StateStore(dir, { clock: 5 as never }), InvalidArgumentError);
  });
});

Deno.test("lock: a lock file left with content but no holder is stale (content is informational)", async () => {
  await withDir(async (dir) => {
    const pid = 2 ** 22 + 12345; // beyond Linux pid_max: surely not running
    Deno.writeTextFileSync(
      `${dir}/.lock`,
      JSON.stringify({ pid, hostname: "elsewhere", since: "2020-01-01T00:00:00.000Z" }),
    );
    {
      await using store = new StateStore(dir);
      assert.equal(store.staleLock?.pid, pid);
      assert.equal(store.staleLock?.hostname, "elsewhere");
      const now = JSON.parse(Deno.readTextFileSync(`${dir}/.lock`));
      assert.equal(now.pid, Deno.pid, "the lock file now names us");
    }
    Deno.writeTextFileSync(`${dir}/.lock`, "garbage");
    await using again = new StateStore(dir);
    assert.equal(again.staleLock?.pid, -1, "unreadable content: unknown stale holder");
  });
});
