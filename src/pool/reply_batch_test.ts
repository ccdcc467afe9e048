// Reply batching on the worker side: results that cannot be sent back fail alone.
import assert from "node:assert/strict";
import { CloneError } from "./errors.ts";
import { collect, startPool } from "../../tests/fixtures/pool_helpers.ts";

Deno.test("a result that cannot be cloned fails its own input only, naming the worker", async () => {
  await using p = await startPool(1);
  const res = await collect(
    p.map([1, { op: "fn" as const }, 3], { errors: "collect", chunkSize: 1 }),
  );
  assert.deepEqual(res.map((r) => r.ok), [true, false, true]);
  assert.ok(!res[1]!.ok && res[1]!.error.cause instanceof CloneError);
  assert.match(
    res[1]!.ok ? "" : res[1]!.error.message,
    /CloneError: Cannot send a result back to the pool: result\.fn cannot be sent back from worker 0: a function/,
  );
  assert.equal(p.insights()[0]!.restarts, 0);
});

Deno.test("results that cannot be sent back fail alone in their chunk, naming the result's key", async () => {
  await using p = await startPool(1);
  const res = await collect(
    p.map([1, { op: "sym" as const }, 3, { op: "fn" as const }], {
      errors: "collect",
      chunkSize: 4,
    }),
  );
  assert.deepEqual(res.map((r) => r.ok), [true, false, true, false]);
  const e = !res[1]!.ok ? res[1]!.error : undefined;
  assert.ok(e?.cause instanceof CloneError && e.cause.path === "result.sym", String(e?.cause));
  const f = !res[3]!.ok ? res[3]!.error : undefined;
  assert.ok(f?.cause instanceof CloneError && f.cause.path === "result.fn", String(f?.cause));
});
