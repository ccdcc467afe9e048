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
