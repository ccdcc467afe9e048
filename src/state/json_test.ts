/** JSON codecs of the state store: values JSON cannot keep are refused, naming their path. */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { StateComponentError } from "./errors.ts";
import { jsonState, recordState } from "./states.ts";
import { StateStore } from "./store.ts";

async function withStore(fn: (store: StateStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spool-json-" });
  try {
    await using store = new StateStore(dir);
    await fn(store, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

class Point {
  x = 1;
}

/** Values JSON would change or drop, the path the error must name, and a pattern of the reason. */
const REFUSED: [label: string, value: unknown, path: string, what: RegExp][] = [
  ["NaN", { totals: { byHour: [1, 2, 3, NaN] } }, "totals.byHour[3]", /is NaN/],
  ["Infinity", { rate: Infinity }, "rate", /is Infinity/],
  ["-Infinity", [[-Infinity]], "[0][0]", /is -Infinity/],
  ["undefined in an array", { list: [1, undefined] }, "list[1]", /undefined/],
  // deno-lint-ignore no-sparse-arrays
  ["a hole", { list: [1, , 3] }, "list[1]", /hole/],
  ["a function", { f: () => 1 }, "f", /function/],
  ["a symbol", { s: Symbol("x") }, "s", /symbol/],
  ["a bigint", { n: 1n }, "n", /bigint/],
  ["a Date", { at: new Date(0) }, "at", /Date/],
  ["a Map", { m: new Map([[1, 2]]) }, "m", /Map/],
  ["a Set", { s: new Set([1]) }, "s", /Set/],
  ["a typed array", { w: new Float64Array(2) }, "w", /Float64Array/],
  ["a class instance", { p: new Point() }, "p", /Point/],
  ["a boxed number", { b: new Number(1) }, "b", /Number/],
  ["a symbol key", { [Symbol("k")]: 1 }, "the value", /symbol key/],
  ["an odd key", { "a b": [NaN] }, '["a b"][0]', /NaN/],
];

Deno.test("jsonState: every value JSON would change is refused at creation, naming its path", () => {
  for (const [label, value, path, what] of REFUSED) {
    assert.throws(
      () => jsonState(value),
      (e: unknown) =>
        e instanceof InvalidArgumentError && e.message.includes(path) && what.test(e.message),
      label,
    );
  }
  assert.throws(
    () => jsonState(NaN),
    (e: unknown) => e instanceof InvalidArgumentError && /the value is NaN/.test(e.message),
  );
  assert.throws(() => jsonState(undefined), InvalidArgumentError);
});

Deno.test("jsonState: a value mutated into something JSON would change fails the save", async () => {
  await withStore(async (store) => {
    for (const [label, value, path, what] of REFUSED) {
      const name = `s${REFUSED.findIndex((r) => r[0] === label)}`;
      const s = store.register(name, jsonState<unknown>(null));
      s.value = value;
      await assert.rejects(
        store.save(),
        (e: unknown) =>
          e instanceof StateComponentError && e.component === name &&
          e.cause instanceof InvalidArgumentError && e.message.includes(path) &&
          what.test(e.message),
        label,
      );
      store.unregister(name);
    }
    assert.deepEqual(await store.list(), []); // nothing half-saved
  });
});

Deno.test("jsonState: a cycle is refused naming where it closes", () => {
  const a: Record<string, unknown> = { list: [] };
  (a.list as unknown[]).push({ back: a });
  assert.throws(
    () => jsonState(a),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /list\[0\]\.back is a cycle/.test(e.message),
  );
});

Deno.test("jsonState: values JSON keeps round-trip; -0 and undefined properties are documented", async () => {
  await withStore(async (store) => {
    const value = {
      n: null,
      b: [true, false],
      x: 1.5e300,
      s: "é\u0000",
      nested: { deep: [[{}]] },
      bare: Object.assign(Object.create(null), { k: 1 }),
      zero: -0,
      gone: undefined,
    };
    store.register("v", jsonState(value));
    await store.save();
    store.unregister("v");
    const again = store.register("v", jsonState<Record<string, unknown>>({}));
    await store.load("latest");
    const { gone: _, ...kept } = value;
    assert.deepEqual(again.value, { ...kept, zero: 0, bare: { k: 1 } });
    assert.equal(Object.is(again.value.zero, 0), true); // -0 is saved as 0 (documented)
    assert.equal("gone" in again.value, false); // an undefined property is omitted (documented)
  });
});

Deno.test("recordState: non-array fields are checked at creation and at save", async () => {
  assert.throws(
    () => recordState({ cols: new Float64Array(1), f: () => 1 }),
    (e: unknown) => e instanceof InvalidArgumentError && /\bf is a function/.test(e.message),
  );
  assert.throws(
    () => recordState({ stats: { mean: NaN } }),
    (e: unknown) => e instanceof InvalidArgumentError && /stats\.mean is NaN/.test(e.message),
  );
  await withStore(async (store) => {
    const r = store.register("r", recordState<Record<string, unknown>>({ a: 1 }));
    r.value.f = function later() {};
    await assert.rejects(
      store.save(),
      (e: unknown) =>
        e instanceof StateComponentError && e.cause instanceof InvalidArgumentError &&
        /\bf is a function/.test(e.message),
    );
  });
});

Deno.test("save({ meta }): meta JSON would change is an InvalidArgumentError naming the path", async () => {
  await withStore(async (store) => {
    store.register("a", jsonState(1));
    await assert.rejects(
      store.save({ meta: { f: () => 1 } }),
      (e: unknown) => e instanceof InvalidArgumentError && /meta\.f is a function/.test(e.message),
    );
    await assert.rejects(
      store.save({ meta: { position: { byFile: [NaN] } } }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /meta\.position\.byFile\[0\] is NaN/.test(e.message),
    );
    await assert.rejects(
      store.save({ meta: { at: new Date(0) } }),
      (e: unknown) => e instanceof InvalidArgumentError && /meta\.at is a Date/.test(e.message),
    );
    assert.deepEqual(await store.list(), []);
    await store.save({ meta: { ok: [1, "two", null] } });
    assert.deepEqual((await store.latest())?.meta, { ok: [1, "two", null] });
  });
});

Deno.test("ctx.writeJson refuses synchronously, naming the file and the path", async () => {
  await withStore(async (store) => {
    let seen: unknown;
    store.register("c", {
      saveState(_dir, ctx) {
        try {
          void ctx.writeJson("x.json", { a: [Infinity] });
        } catch (error) {
          seen = error;
        }
        return ctx.writeJson("y.json", 1);
      },
      loadState() {},
    });
    await store.save();
    assert.ok(seen instanceof InvalidArgumentError);
    assert.match(seen.message, /"x\.json"/);
    assert.match(seen.message, /a\[0\] is Infinity/);
  });
});
