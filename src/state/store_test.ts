/**
 * The StateStore facade: registration, round trips, opening and closing, the lock, the
 * operation queue and its re-entrancy guard. Retention is in store_prune_test.ts.
 */

import assert from "node:assert/strict";
import { ClosedError, InvalidArgumentError } from "../errors.ts";
import type { LoadContext, SaveContext } from "./context.ts";
import {
  DuplicateStateError,
  SnapshotNotFoundError,
  StateMismatchError,
  StoreLockedError,
} from "./errors.ts";
import { arrayState, jsonState, recordState } from "./states.ts";
import { StateStore } from "./store.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-state-");

const noop = { saveState() {}, loadState() {} };

// ---- register ----

Deno.test("register: a name registered twice is a DuplicateStateError", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("a", jsonState(1));
    assert.throws(() => store.register("a", jsonState(2)), DuplicateStateError);
  });
});

Deno.test("unregister: returns whether the name was registered; the name is free again", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("a", jsonState(1));
    assert.equal(store.unregister("a"), true);
    assert.equal(store.unregister("a"), false);
    store.register("a", jsonState(3));
    assert.deepEqual(store.names, ["a"]);
  });
});

const BAD_NAMES = [
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

Deno.test("register: a name outside 1-128 of [A-Za-z0-9_.-] (no leading dot/dash, no ..) is refused", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    for (const name of BAD_NAMES) {
      assert.throws(
        () => store.register(name as string, jsonState(0)),
        InvalidArgumentError,
        `name ${JSON.stringify(name)} must be refused`,
      );
    }
  });
});

Deno.test("register: names of letters, digits, _ . - up to 128 characters are accepted", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    for (const good of ["a", "A_b-c.d", "0", "x".repeat(128), "model.v2"]) {
      store.register(good, jsonState(0));
    }
  });
});

Deno.test("register: an object without saveState and loadState is an InvalidArgumentError", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    assert.throws(() => store.register("obj", {} as never), InvalidArgumentError);
    assert.throws(() => store.register("obj", null as never), InvalidArgumentError);
  });
});

// ---- constructor ----

Deno.test("constructor: an empty directory name is an InvalidArgumentError", () => {
  assert.throws(() => new StateStore(""), InvalidArgumentError);
});

Deno.test("constructor: an unknown checksum, a keeper without select, a non-function clock are refused", async () => {
  await withDir((dir) => {
    assert.throws(() => new StateStore(dir, { checksum: "md5" as never }), InvalidArgumentError);
    assert.throws(() => new StateStore(dir, { keeper: {} as never }), InvalidArgumentError);
    assert.throws(() => new StateStore(dir, { clock: 5 as never }), InvalidArgumentError);
  });
});

Deno.test("constructor: readOnly on a missing directory is a SnapshotNotFoundError", async () => {
  await withDir((dir) => {
    assert.throws(
      () => new StateStore(`${dir}/missing`, { readOnly: true }),
      SnapshotNotFoundError,
    );
  });
});

// ---- round trips ----

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

// ---- close ----

Deno.test("close: waits for a save in progress and is idempotent", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    store.register("a", noop);
    const saving = store.save();
    await store.close(); // waits for the save
    await saving;
    await store.close();
    await using again = new StateStore(dir);
    assert.equal((await again.list()).length, 1);
  });
});

Deno.test("close: register, save, load and list afterwards are a ClosedError", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    store.register("a", noop);
    await store.close();
    assert.throws(() => store.register("b", noop), ClosedError);
    await assert.rejects(store.save(), ClosedError);
    await assert.rejects(store.load("latest"), ClosedError);
    await assert.rejects(store.list(), ClosedError);
  });
});

Deno.test("close: releases the lock (emptied lock file, not stale for the next writer)", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await store.close();
    assert.equal(Deno.readTextFileSync(`${dir}/.lock`), "", "lock file emptied on release");
    await using again = new StateStore(dir);
    assert.equal(again.staleLock, undefined);
  });
});

// ---- lock ----

Deno.test("lock: a second writer store in the same process is a StoreLockedError naming our pid", async () => {
  await withDir(async (dir) => {
    await using _first = new StateStore(dir);
    assert.throws(() => new StateStore(dir), (e: unknown) => {
      assert.ok(e instanceof StoreLockedError);
      assert.equal(e.holder?.pid, Deno.pid);
      return true;
    });
    await assert.rejects(StateStore.open(dir), StoreLockedError);
  });
});

Deno.test("lock: once the first writer closes, a second writer opens", async () => {
  await withDir(async (dir) => {
    const first = new StateStore(dir);
    await first.close();
    await using second = new StateStore(dir);
    assert.equal(second.readOnly, false);
  });
});

Deno.test("readOnly: opens beside a writer without the lock; save and prune are a ClosedError", async () => {
  await withDir(async (dir) => {
    await using _writer = new StateStore(dir);
    await using reader = new StateStore(dir, { readOnly: true });
    assert.deepEqual(await reader.list(), []);
    await assert.rejects(reader.save(), ClosedError);
    await assert.rejects(reader.prune({ select: () => [] }), ClosedError);
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

Deno.test("lock: a lock file naming a process that is not running is stale and taken over", async () => {
  await withDir(async (dir) => {
    const pid = 2 ** 22 + 12345; // beyond Linux pid_max: surely not running
    Deno.writeTextFileSync(
      `${dir}/.lock`,
      JSON.stringify({ pid, hostname: "elsewhere", since: "2020-01-01T00:00:00.000Z" }),
    );
    await using store = new StateStore(dir);
    assert.equal(store.staleLock?.pid, pid);
    assert.equal(store.staleLock?.hostname, "elsewhere");
    const now = JSON.parse(Deno.readTextFileSync(`${dir}/.lock`));
    assert.equal(now.pid, Deno.pid, "the lock file now names us");
  });
});

Deno.test("lock: an unreadable lock file without a holder is stale with an unknown holder (pid -1)", async () => {
  await withDir(async (dir) => {
    Deno.writeTextFileSync(`${dir}/.lock`, "garbage");
    await using again = new StateStore(dir);
    assert.equal(again.staleLock?.pid, -1, "unreadable content: unknown stale holder");
  });
});

// ---- re-entrancy ----

Deno.test("re-entrancy: saveState calling save, load or close of its own store is refused, not deadlocked", async () => {
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
      loadState() {},
    });
    await store.save();
    assert.equal(seen.length, 3);
    for (const e of seen) assert.ok(e instanceof InvalidArgumentError, String(e));
  });
});

Deno.test("re-entrancy: loadState calling save of its own store is refused, not deadlocked", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    const seen: unknown[] = [];
    store.register("sneaky", {
      saveState() {},
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
    assert.equal(seen.length, 1);
    for (const e of seen) assert.ok(e instanceof InvalidArgumentError, String(e));
  });
});

Deno.test("re-entrancy: calls from other async contexts still queue normally", async () => {
  await withDir(async (dir) => {
    await using store = new StateStore(dir);
    store.register("a", noop);
    const [a, b] = await Promise.all([store.save(), store.save()]);
    assert.notEqual(a, b);
  });
});
