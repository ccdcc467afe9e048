import assert from "node:assert/strict";
import { assertInteger, describe, InvalidArgumentError, SpoolError } from "./errors.ts";

Deno.test("SpoolError messages follow 'Cannot <action>: <reason>, received <value>'", () => {
  const e = new InvalidArgumentError("create a batch", "size must be >= 1", { received: -3 });
  assert.ok(e instanceof SpoolError);
  assert.equal(e.name, "InvalidArgumentError");
  assert.equal(e.message, "Cannot create a batch: size must be >= 1, received -3");
  assert.equal(e.received, -3);
  assert.equal(new SpoolError("x", "y").message, "Cannot x: y");
});

Deno.test("describe renders values briefly and never throws", () => {
  assert.equal(describe("a"), '"a"');
  assert.equal(describe(new Float64Array(3)), "Float64Array(3)");
  assert.equal(describe(10n), "10n");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(describe(cyclic), "[object Object]");
  assert.ok(describe("x".repeat(200)).length < 90);
});

Deno.test("assertInteger: an optional upper bound, named in the message", () => {
  assert.equal(assertInteger("slice a frame", "end", 3, 0, 3), 3);
  assert.throws(
    () => assertInteger("slice a frame", "end", 4, 0, 3),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      e.message === "Cannot slice a frame: end must be an integer from 0 to 3, received 4",
  );
  assert.throws(
    () => assertInteger("x", "n", 0),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /n must be an integer >= 1/.test(e.message),
  );
});

Deno.test("describe shows a huge object shallowly instead of serializing all of it", () => {
  const big = { rows: Array.from({ length: 100_000 }, (_, i) => ({ i })), name: "x" };
  assert.equal(describe(big), '{"rows":array(100000),"name":"x"}');
  const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`key${i}`, i]));
  const shown = describe(wide);
  assert.ok(shown.startsWith('{"key0":0,"key1":1,') && shown.endsWith(",...}"), shown);
  assert.ok(shown.length <= 90, shown);
  assert.equal(describe({ a: 1, b: "x" }), '{"a":1,"b":"x"}'); // small objects: exact JSON
});
