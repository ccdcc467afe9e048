// A worker slot: a crashed or hung worker is replaced.
import assert from "node:assert/strict";
import { TimeoutError } from "../errors.ts";
import { WorkerCrashError } from "./errors.ts";
import { collect, startPool } from "../../tests/fixtures/pool_helpers.ts";

Deno.test("a crashing worker (Deno.exit, self.close, async throw) fails its task and is replaced with its own state", async () => {
  await using p = await startPool(2);
  const inputs = [
    0,
    1,
    { op: "exit" as const },
    3,
    4,
    { op: "close" as const },
    6,
    { op: "async-throw" as const },
    8,
    9,
  ];
  const res = await collect(p.map(inputs, { errors: "collect", maxInFlight: 4 }));
  assert.equal(res.length, inputs.length);
  const bad = res.filter((r) => !r.ok);
  assert.deepEqual(bad.map((r) => r.index), [2, 5, 7]);
  for (const r of bad) {
    assert.ok(!r.ok && r.error.cause instanceof WorkerCrashError);
  }
  assert.match(String((bad[0] as { error: Error }).error.message), /Deno\.exit\(3\)/);
  assert.ok(res.filter((r) => r.ok).every((r) => r.ok && r.value.value === 2 * r.index));
  assert.equal(p.insights().reduce((a, w) => a + w.restarts, 0), 3);
  // replaced workers are re-initialised with their own state
  const again = await collect(p.map([1, 2, 3, 4]));
  assert.ok(again.every((r) => r.procId === 0 || r.procId === 1));
});

Deno.test("a hung task is stopped by timeoutMs and its worker replaced", async () => {
  await using p = await startPool(2);
  // "stall" waits without keeping the thread busy (a busy loop is covered by the stuck-thread test)
  const inputs = [0, 1, { op: "stall" as const }, 3, 4, 5];
  // 2 s per input: a trivial input never takes that long even on a loaded machine.
  const res = await collect(p.map(inputs, { errors: "collect", timeoutMs: 2_000 }));
  const bad = res.filter((r) => !r.ok);
  assert.deepEqual(bad.map((r) => r.index), [2]);
  assert.ok(!bad[0]!.ok && bad[0]!.error.cause instanceof TimeoutError);
  assert.deepEqual(res.filter((r) => r.ok).map((r) => r.index), [0, 1, 3, 4, 5]);
});
