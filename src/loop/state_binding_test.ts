/** State binding: `state`, `bindFunctionState`, `bindObjectState`, their checks and restore. */

import assert from "node:assert/strict";
import { LoopStateError, StatefulLoop } from "./mod.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-loop-");

Deno.test("bindObjectState: reassignment and mutation persist; restored onto the object", async () => {
  class Model {
    weights = new Float64Array([0, 0]);
    steps = 0;
    label = "init";
  }
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      const m = loop.bindObjectState(new Model(), { keys: ["weights", "steps", "label"] });
      for await (const { item } of loop.iterate([1, 2])) {
        m.weights[0]! += item as number;
        m.steps++;
        m.label = `after ${item}`;
      }
    }
    await using loop = await StatefulLoop.open(dir);
    const m = loop.bindObjectState(new Model(), { keys: ["weights", "steps", "label"] });
    assert.deepEqual([...m.weights], [3, 0]);
    assert.equal(m.steps, 2);
    assert.equal(m.label, "after 2");
  });
});

Deno.test("bindFunctionState: restores into the caller's objects; new parameters keep defaults", async () => {
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      const step = (x: number, acc: { n: number }) => (acc.n += x);
      const acc = { n: 0 };
      const bound = loop.bindFunctionState(step, { state: { acc } });
      for await (const { item } of loop.iterate([5, 6])) bound(item);
      assert.equal(acc.n, 11);
    }
    await using loop = await StatefulLoop.open(dir);
    const step = (x: number, acc: { n: number }, extra: { calls: number }) => {
      extra.calls++;
      return (acc.n += x);
    };
    const acc = { n: 0 };
    const extra = { calls: 0 };
    const bound = loop.bindFunctionState(step, { state: { acc, extra } });
    assert.equal(acc.n, 11); // the caller's own object holds the restored value
    assert.equal(bound(1), 12);
    assert.equal(extra.calls, 1);
  });
});

Deno.test("state binding errors: names, parameters, shapes", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    function f(a: number, total: { v: number }) {
      return a + total.v;
    }
    const is = (re: RegExp) => (e: unknown) => e instanceof LoopStateError && re.test(e.message);
    assert.throws(
      () => loop.bindFunctionState(f, { state: { totl: { v: 0 } } }),
      is(/"totl" is not a parameter of f; its parameters are \[a, total\]/),
    );
    assert.throws(
      () => loop.bindFunctionState((x: number) => x, { state: {} }),
      is(/no name/),
    );
    assert.throws(
      () => loop.bindFunctionState(f.bind(null), { state: { total: { v: 0 } }, name: "g" }),
      is(/cannot read the parameter names/),
    );
    assert.throws(
      () => loop.bindFunctionState(f, { state: { total: 3 as unknown as object } }),
      is(/must be an object/),
    );
    loop.bindFunctionState(f, { state: { total: { v: 0 } } });
    assert.throws(
      () => loop.bindFunctionState(f, { state: { total: { v: 0 } } }),
      is(/already bound/),
    );
    assert.throws(() => loop.state("f", {}), is(/already bound/));
    assert.throws(() => loop.bindObjectState({ a: 1 }, { keys: ["a"] }), is(/pass options.name/));
    assert.throws(
      () => loop.bindObjectState({ a: 1 } as { a: number; b?: number }, { keys: ["b"], name: "o" }),
      is(/no attribute "b"/),
    );
    assert.throws(() => loop.state("fn", { cb: () => 1 }), is(/cannot be saved/));
    class Weird {
      x = new WeakMap();
    }
    assert.throws(() => loop.state("w", new Weird()), is(/cannot be saved/));
  });
});

Deno.test("a state saved with another shape is refused on restore", async () => {
  await withDir(async (dir) => {
    {
      await using loop = await StatefulLoop.open(dir);
      loop.state("w", { arr: [1] });
      loop.state("t", new Float64Array(2));
      for await (const _ of loop.iterate([1]));
    }
    await using loop = await StatefulLoop.open(dir);
    assert.throws(() => loop.state("t", new Float64Array(3)), LoopStateError);
    assert.throws(() => loop.state("w", [] as unknown[]), LoopStateError);
    assert.deepEqual(loop.unboundStates.sort(), ["t", "w"]);
  });
});
