import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import {
  checkKeys,
  optionalBoolean,
  optionalFunction,
  optionalOneOf,
  optionsOf,
  Problems,
} from "./options.ts";

Deno.test("options: unknown keys are refused with the known ones listed", () => {
  assert.throws(
    () => checkKeys("create a batch", { size: 1, sizes: 2 }, ["size", "maxBytes"]),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      e.message.startsWith('Cannot create a batch: unknown option "sizes" (known: size, maxBytes)'),
  );
  assert.doesNotThrow(() => checkKeys("x", { size: 1 }, ["size"]));
});

Deno.test("options: optionsOf refuses non-objects and returns {} for undefined", () => {
  assert.deepEqual(optionsOf("x", undefined, []), {});
  for (const bad of [null, 5, "a", [1]]) {
    assert.throws(() => optionsOf("x", bad, []), InvalidArgumentError);
  }
  assert.throws(() => optionsOf("x", { a: undefined }, []), /unknown option "a"/);
});

Deno.test("options: typed field checks", () => {
  assert.equal(optionalOneOf("x", "mode", "a", ["a", "b"]), "a");
  assert.throws(() => optionalOneOf("x", "mode", "c", ["a", "b"]), /mode must be one of "a", "b"/);
  assert.equal(optionalBoolean("x", "flag", undefined), undefined);
  assert.throws(() => optionalBoolean("x", "flag", "yes"), /flag must be a boolean/);
  assert.throws(() => optionalFunction("x", "fn", 1), /fn must be a function, received 1/);
});

Deno.test("options: Problems reports every problem at once", () => {
  const p = new Problems();
  p.throwIfAny("load");
  p.add("nodes.a.fn", "must be a function", 1);
  p.keys("sources.s", { file: "x" }, ["files", "every"]);
  assert.equal(p.size, 2);
  assert.throws(
    () => p.throwIfAny("load the pipeline description"),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /2 problems: nodes\.a\.fn: must be a function/.test(e.message) &&
      /sources\.s: unknown key "file" \(known: files, every\)/.test(e.message),
  );
});
