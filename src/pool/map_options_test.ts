// pool.map options: validation.
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { startPool } from "../../tests/fixtures/pool_helpers.ts";

Deno.test("map options validate: an unknown key is listed with the known ones", async () => {
  await using p = await startPool(1);
  assert.throws(
    () => p.map([1], { chunksize: 4 } as never),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /unknown option "chunksize" \(known: /.test(e.message),
  );
});

Deno.test("map options validate: a wrong type or range is refused, and so is a non-object", async () => {
  await using p = await startPool(1);
  for (
    const bad of [
      { ordered: "yes" },
      { spread: 1 },
      { timeoutMs: 0 },
      { signal: {} },
      { transfer: "all" },
    ]
  ) {
    assert.throws(() => p.map([1], bad as never), InvalidArgumentError, JSON.stringify(bad));
  }
  assert.throws(() => p.map([1], 5 as never), InvalidArgumentError);
  assert.throws(() => p.map([1], { chunkSize: 0 }), InvalidArgumentError);
  assert.throws(() => p.map([1], { maxInFlight: -1 }), InvalidArgumentError);
  assert.throws(() => p.map([1], { errors: "ignore" as "throw" }), InvalidArgumentError);
});
