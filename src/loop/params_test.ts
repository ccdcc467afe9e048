/** parameterInfo: parameter names read from a function's source. */

import assert from "node:assert/strict";
import { parameterInfo } from "./params.ts";

Deno.test("parameterInfo reads names from many function forms", () => {
  const names = (fn: (...a: never[]) => unknown) => parameterInfo(fn)?.map((p) => p.name ?? "?");
  assert.deepEqual(
    names(function f(a: number, b = "x,y)", c = [1, 2]) {
      return [a, b, c];
    }),
    ["a", "b", "c"],
  );
  assert.deepEqual(names((x: number) => x), ["x"]);
  assert.deepEqual(
    names(async function* g(/* c, */ _first: number, { d: _d }: { d: 1 }, ..._rest: number[]) {}),
    [
      "_first",
      "?",
      "_rest",
    ],
  );
  assert.deepEqual(names(new Function("a", "b = (1, 2)", "return a") as () => void), ["a", "b"]);
  const o = {
    method(q: number, r: (s: number) => number = (s) => s) {
      return q + r(1);
    },
  };
  assert.deepEqual(names(o.method), ["q", "r"]);
  assert.equal(parameterInfo(Math.max), undefined);
  assert.equal(parameterInfo(o.method.bind(o)), undefined);
});
