import assert from "node:assert/strict";
import { decodeValue, encodeValue } from "./values.ts";
import { InvalidArgumentError } from "../errors.ts";
import { ERROR_FORM } from "../../tests/frame_helpers.ts";

/** Encode then decode through an in-memory list of arrays. */
function roundTrip(value: unknown): unknown {
  const arrays: unknown[] = [];
  const json = JSON.parse(JSON.stringify(encodeValue(value, (a) => {
    arrays.push(a.slice());
    return `a${arrays.length - 1}`;
  })));
  return decodeValue(json, (file) => arrays[Number(file.slice(1))] as Float64Array);
}

Deno.test("encodeValue/decodeValue: JSON values, bigint, non-finite numbers, undefined, Date, Map, Set and typed arrays round-trip", () => {
  const value = {
    n: 1.5,
    s: "é",
    b: 2n ** 70n,
    nan: NaN,
    inf: -Infinity,
    negativeZero: -0,
    u: undefined,
    d: new Date(0),
    m: new Map([["k", 1]]),
    set: new Set([1, 2]),
    t: new Int16Array([7, -7]),
    nested: [null, [true]],
  };
  assert.deepEqual(roundTrip(value), value);
});

Deno.test("encodeValue: a function, a symbol, a class instance or a cycle is refused by path", () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  class Point {}
  for (const bad of [() => 1, Symbol("s"), new Point(), cycle]) {
    assert.throws(
      () => encodeValue({ x: bad }, () => "a"),
      (e: unknown) => e instanceof InvalidArgumentError && ERROR_FORM.test(e.message),
    );
  }
});

Deno.test("decodeValue: a tagged value with a malformed payload is refused by name", () => {
  for (
    const bad of [
      { $spool: "bigint", v: "12abc" },
      { $spool: "map", v: 42 },
      { $spool: "set", v: "x" },
      { $spool: "num", v: "12" },
    ]
  ) {
    assert.throws(
      () => decodeValue(bad, () => new Float64Array(0)),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /malformed/.test(e.message) &&
        ERROR_FORM.test(e.message),
      JSON.stringify(bad),
    );
  }
});
