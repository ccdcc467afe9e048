/** Every public entry point of StatefulLoop validates its options. */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { Frame } from "../frame/frame.ts";
import { LoopStateError } from "./errors.ts";
import { StatefulLoop, type StatefulLoopOptions } from "./mod.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-loop-opts-");

function invalid(pattern: RegExp) {
  return (e: unknown) => e instanceof InvalidArgumentError && pattern.test(e.message);
}

const bad = <T>(v: unknown) => v as T;

Deno.test("StatefulLoop.open: wrong types are named, unknown keys list the known ones", async () => {
  await withDir(async (dir) => {
    const cases: [unknown, RegExp][] = [
      [{ memoryLimit: 5 }, /unknown option "memoryLimit" \(known: memoryLimitMb, checkpoint,/],
      [{ checkpoint: { afterFlush: "yes" } }, /checkpoint\.afterFlush must be a boolean/],
      [{ checkpoint: { atEnd: 1 } }, /checkpoint\.atEnd must be a boolean/],
      [
        { checkpoint: { everyitems: 3 } },
        /unknown option "checkpoint\.everyitems" \(known: everyItems, everyMs, afterFlush, atEnd\)/,
      ],
      [{ checkpoint: { everyItems: true } }, /checkpoint\.everyItems/],
      [{ checkpoint: [] }, /checkpoint must be an object/],
      [{ fallback: "no" }, /fallback must be a boolean/],
      [{ clock: 1 }, /clock must be a function/],
      [{ adapters: {} }, /adapters must be an array/],
      [{ keep: 0 }, /keep must be an integer >= 1/],
      [null, /options must be an object/],
    ];
    for (const [options, pattern] of cases) {
      await assert.rejects(
        StatefulLoop.open(dir, options as StatefulLoopOptions),
        invalid(pattern),
        JSON.stringify(options),
      );
    }
    await using loop = await StatefulLoop.open(dir); // nothing left locked
    assert.equal(loop.resumed, false);
  });
});

Deno.test("StatefulLoop.open: a path that is a file or cannot be created is an InvalidArgumentError", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/f`;
    await Deno.writeTextFile(file, "x");
    await assert.rejects(StatefulLoop.open(file), invalid(/is not a directory/));
    await assert.rejects(StatefulLoop.open(`${file}/loop`), invalid(/cannot be created/));
  });
});

Deno.test("iterate/items options: skipCompleted, signal and unknown keys are checked", async () => {
  await withDir(async (dir) => {
    const cases: [unknown, RegExp][] = [
      [{ skipCompleted: "no" }, /skipCompleted must be a boolean/],
      [{ signal: {} }, /signal must be an AbortSignal/],
      [{ skip: true }, /unknown option "skip" \(known: skipCompleted, signal\)/],
    ];
    for (const [options, pattern] of cases) {
      await using loop = await StatefulLoop.open(dir);
      assert.throws(() => loop.iterate([1], bad(options)), invalid(pattern));
      await using again = await StatefulLoop.open(`${dir}/b`);
      assert.throws(() => again.items([1], bad(options)), invalid(pattern));
    }
    // a refused call does not use up the loop's single iterate()
    await using loop = await StatefulLoop.open(dir);
    assert.throws(() => loop.iterate([1], bad({ skipCompleted: 0 })), InvalidArgumentError);
    const seen: number[] = [];
    for await (const n of loop.items([1, 2])) seen.push(n);
    assert.deepEqual(seen, [1, 2]);
  });
});

Deno.test("buffer options: unknown keys and bad adapters are refused", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    const f = new Frame({ v: new Float64Array(1) });
    for await (const step of loop.iterate([f])) {
      if (step.final) {
        loop.buffer("v", undefined);
        continue;
      }
      assert.throws(
        () => loop.buffer("v", { v: step.item }, bad({ memoryLimit: 1 })),
        invalid(/unknown option "memoryLimit" \(known: memoryLimitMb, adapter\)/),
      );
      assert.throws(
        () => loop.buffer("v", { v: step.item }, bad({ adapter: {} })),
        invalid(/adapter must have name, byteSize and concat/),
      );
      assert.throws(
        () => loop.buffer("v", { v: step.item }, bad({ memoryLimitMb: "1" })),
        invalid(/memoryLimitMb/),
      );
      assert.equal(loop.sites.length, 0); // a refused call leaves no site behind
      loop.buffer("v", { v: step.item });
    }
  });
});

Deno.test("bind options: unknown keys, names, and every bad state key at once", async () => {
  await withDir(async (dir) => {
    await using loop = await StatefulLoop.open(dir);
    function fn(x: number, acc: { n: number }, ...rest: unknown[]) {
      return [x, acc, rest];
    }
    assert.throws(
      () => loop.bindFunctionState(fn, bad({ state: { acc: { n: 0 } }, nam: "x" })),
      invalid(/unknown option "nam" \(known: state, name\)/),
    );
    assert.throws(
      () => loop.bindFunctionState(fn, bad({ state: { acc: { n: 0 } }, name: 5 })),
      invalid(/name must be a non-empty string/),
    );
    assert.throws(
      () =>
        loop.bindFunctionState(fn, bad({ state: { acc: { n: 0 }, ac: {}, totl: {}, rest: {} } })),
      (e: unknown) =>
        e instanceof LoopStateError && /"ac"/.test(e.message) && /"totl"/.test(e.message) &&
        /"rest" is a rest parameter/.test(e.message) && /\[acc, rest, x\]/.test(e.message),
    );
    assert.throws(
      () => loop.bindFunctionState(fn, bad({ state: { acc: 1, x: "s" } })),
      (e: unknown) =>
        e instanceof LoopStateError && /parameter "acc"/.test(e.message) &&
        /parameter "x"/.test(e.message),
    );
    class Counter {
      n = 0;
    }
    assert.throws(
      () => loop.bindObjectState(new Counter(), bad({ keys: ["n"], nmae: "c" })),
      invalid(/unknown option "nmae" \(known: keys, name\)/),
    );
    assert.throws(
      () => loop.bindObjectState(new Counter(), bad({ keys: ["n"], name: "" })),
      invalid(/name must be a non-empty string/),
    );
    // refused binds leave no binding behind
    loop.bindFunctionState(fn, { state: { acc: { n: 0 } } });
    loop.bindObjectState(new Counter(), { keys: ["n"] });
  });
});

Deno.test("iterate/items: a source result that is not an object fails with a typed error, the source is returned", async () => {
  await withDir(async (dir) => {
    for (const kind of ["sync", "async"] as const) {
      for (const method of ["items", "iterate"] as const) {
        let returned = false;
        let n = 0;
        // 42 three times, then the end (a loop that accepts 42 finishes instead of spinning)
        const result = () => (n++ < 3 ? 42 : { done: true, value: undefined });
        const it = {
          next: () => (kind === "sync" ? result() : Promise.resolve(result())) as never,
          return: () => {
            returned = true;
            return (kind === "sync" ? { done: true } : Promise.resolve({ done: true })) as never;
          },
        };
        const source = kind === "sync" ? { [Symbol.iterator]: () => it } : {
          [Symbol.asyncIterator]: () => it,
        };
        await using loop = await StatefulLoop.open(`${dir}/${kind}-${method}`);
        await assert.rejects(
          async () => {
            for await (const _ of loop[method](source as Iterable<number>)) { /* none */ }
          },
          invalid(
            /^Cannot iterate a StatefulLoop: the source's next\(\) must give an iterator result object .*, received 42$/,
          ),
          `${kind} ${method}`,
        );
        assert.ok(returned, `${kind} ${method}: the source was returned`);
      }
    }
  });
});

Deno.test("iterate/items: an async next() giving a plain result object (no promise) is accepted, as for await does", async () => {
  await withDir(async (dir) => {
    let i = 0;
    const source = {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          (i < 3 ? { done: false, value: i++ } : { done: true, value: undefined }) as never,
      }),
    } as AsyncIterable<number>;
    await using loop = await StatefulLoop.open(dir);
    const got: number[] = [];
    for await (const n of loop.items(source)) got.push(n);
    assert.deepEqual(got, [0, 1, 2]);
  });
});
