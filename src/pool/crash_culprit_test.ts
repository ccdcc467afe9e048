// Crash culprit attribution: the policy functions, then end to end.
import assert from "node:assert/strict";
import { TimeoutError } from "../errors.ts";
import { WorkerCrashError } from "./errors.ts";
import { collect, startPool } from "../../tests/fixtures/pool_helpers.ts";
import { culpritOf, MAX_SILENT_RETRIES, settleDeadWorkerChunks } from "./crash_culprit.ts";
import type { Chunk, MapRun } from "./map_run.ts";
import { ISOLATE } from "./protocol.ts";

/** A map that records what happens to its chunks. */
function fakeRun(flags = 0) {
  const failed: { id: number; worker: number; cause: Error }[] = [];
  const requeued: number[][] = [];
  const run = {
    flags,
    failChunk: (chunk: Chunk, worker: number, cause: Error) =>
      failed.push({ id: chunk.id, worker, cause }),
    requeue: (chunks: readonly Chunk[]) => requeued.push(chunks.map((c) => c.id)),
  } as unknown as MapRun;
  return { run, failed, requeued };
}

function chunk(id: number, run: MapRun, isolate = false, retries = 0): Chunk {
  return { id, run, start: id * 10, items: [id], sentAt: 0, retries, isolate };
}

Deno.test("culpritOf: the chunk the worker named is the culprit, wherever it is in flight", () => {
  const { run } = fakeRun();
  const inflight = [chunk(1, run), chunk(2, run), chunk(3, run)];
  assert.equal(culpritOf(inflight, 2), 1);
  assert.equal(culpritOf(inflight, 3), 2);
});

Deno.test("culpritOf: without a name, the oldest chunk is blamed when it was sent isolated", () => {
  const { run } = fakeRun();
  assert.equal(culpritOf([chunk(1, run, true), chunk(2, run)], -1), 0);
  // a map with a time limit sends every chunk isolated
  const timed = fakeRun(ISOLATE).run;
  assert.equal(culpritOf([chunk(1, timed), chunk(2, timed)], -1), 0);
});

Deno.test("culpritOf: without a name, when the oldest chunk was not sent isolated, nobody is blamed", () => {
  const { run } = fakeRun();
  assert.equal(culpritOf([chunk(1, run), chunk(2, run, true)], -1), -1);
  // a name the worker does not hold falls back to the same rule
  assert.equal(culpritOf([chunk(1, run), chunk(2, run)], 99), -1);
  assert.equal(culpritOf([], -1), -1);
});

Deno.test("settleDeadWorkerChunks: only the culprit fails; the others go back to their maps in order, not counted as retries", () => {
  const a = fakeRun();
  const b = fakeRun();
  const inflight = [chunk(1, a.run), chunk(2, b.run), chunk(3, a.run), chunk(4, a.run)];
  const cause = new Error("crashed");
  settleDeadWorkerChunks(inflight, 2, 7, cause);
  assert.deepEqual(a.failed, [{ id: 3, worker: 7, cause }]);
  assert.deepEqual(b.failed, []);
  assert.deepEqual(a.requeued, [[1, 4]]);
  assert.deepEqual(b.requeued, [[2]]);
  assert.ok(inflight.every((c) => c.retries === 0 && !c.isolate));
});

Deno.test("settleDeadWorkerChunks: with nobody blamed, every chunk is requeued isolated and counted as a retry", () => {
  const a = fakeRun();
  const inflight = [chunk(1, a.run), chunk(2, a.run)];
  settleDeadWorkerChunks(inflight, -1, 0, new Error("killed"));
  assert.deepEqual(a.failed, []);
  assert.deepEqual(a.requeued, [[1, 2]]);
  assert.ok(inflight.every((c) => c.retries === 1 && c.isolate));
});

Deno.test("settleDeadWorkerChunks: a chunk past MAX_SILENT_RETRIES silent deaths fails", () => {
  const a = fakeRun();
  const cause = new Error("killed again");
  const worn = chunk(1, a.run, true, MAX_SILENT_RETRIES);
  const fresh = chunk(2, a.run);
  settleDeadWorkerChunks([worn, fresh], -1, 1, cause);
  assert.deepEqual(a.failed, [{ id: 1, worker: 1, cause }]);
  assert.deepEqual(a.requeued, [[2]]);
});

Deno.test("one worker, alternating crashes: only the crashing inputs fail, requeued work keeps its order", async () => {
  await using p = await startPool(1);
  const inputs = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? { op: "exit" as const } : i));
  // unordered: with one worker the completion order is the order the worker ran the inputs
  const res = await collect(p.map(inputs, { errors: "collect", ordered: false }));
  assert.deepEqual(res.map((r) => r.index), inputs.map((_, i) => i));
  assert.deepEqual(res.filter((r) => !r.ok).map((r) => r.index), [0, 2, 4, 6, 8, 10]);
  for (const r of res) {
    if (r.ok) assert.equal(r.value.value, 2 * r.index);
    else assert.ok(r.error.cause instanceof WorkerCrashError);
  }
  assert.equal(p.insights()[0]!.restarts, 6);
});

Deno.test("one worker, alternating timeouts: only the inputs that time out fail", async () => {
  await using p = await startPool(1);
  const inputs = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? { op: "stall" as const } : i));
  // 1 s per input: an instant input never takes that long even on a loaded machine
  const res = await collect(
    p.map(inputs, { errors: "collect", ordered: false, timeoutMs: 1000 }),
  );
  assert.deepEqual(res.map((r) => r.index), inputs.map((_, i) => i));
  assert.deepEqual(res.filter((r) => !r.ok).map((r) => r.index), [0, 2, 4, 6, 8, 10]);
  for (const r of res) {
    if (!r.ok) assert.ok(r.error.cause instanceof TimeoutError, String(r.error.cause));
  }
});
