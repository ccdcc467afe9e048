import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { lengthOf, toAsyncIterator, withLength } from "./sized.ts";

Deno.test("lengthOf reads length of arrays, sized iterables, Sets and Maps", () => {
  assert.equal(lengthOf([1, 2]), 2);
  assert.equal(lengthOf(new Set([1])), 1);
  assert.equal(lengthOf(new Map([[1, 2]])), 1);
  assert.equal(lengthOf((function* () {})()), undefined);
  assert.equal(lengthOf(withLength((function* () {})(), 7)), 7);
  assert.equal(lengthOf(null), undefined);
});

Deno.test("toAsyncIterator: a sync source that throws gives a rejected next(), not a throw", async () => {
  const it = toAsyncIterator((function* () {
    yield 1;
    throw new Error("sync boom");
  })());
  assert.deepEqual(await it.next(), { done: false, value: 1 });
  const p = it.next();
  assert.ok(p instanceof Promise);
  await assert.rejects(p, /sync boom/);
  assert.throws(() => toAsyncIterator(3 as never), InvalidArgumentError);
});

Deno.test("withLength: a bad length or a non-iterable is an InvalidArgumentError; an array keeps its own length", () => {
  const gen = () => (function* () {})();
  for (const bad of ["1", -1, 1.5, NaN, Infinity]) {
    assert.throws(
      () => withLength(gen(), bad as never),
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /^Cannot attach a length to an iterable: length must be an integer >= 0, received /.test(
          e.message,
        ),
      String(bad),
    );
  }
  for (const bad of [42, null, "abc", {}]) {
    assert.throws(
      () => withLength(bad as never, 3),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /iterable must be an iterable/.test(e.message),
      String(bad),
    );
  }
  // an array is never resized or truncated
  const arr = [1, 2, 3];
  assert.equal(withLength(arr, 3), arr);
  assert.throws(() => withLength(arr, 2), /an array's length is its own \(3\)/);
  assert.deepEqual(arr, [1, 2, 3]);
  // a frozen iterable refuses the property: typed, with the engine's error as cause
  assert.throws(
    () => withLength(Object.freeze(gen()), 1),
    (e: unknown) => e instanceof InvalidArgumentError && e.cause instanceof TypeError,
  );
  // a second withLength replaces the first
  const g = withLength(withLength(gen(), 1), 2);
  assert.equal(lengthOf(g), 2);
});
