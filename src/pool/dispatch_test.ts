// Dispatch: the least-loaded policy and the round-robin among maps, then end to end.
import assert from "node:assert/strict";
import { collect, startPool } from "../../tests/fixtures/pool_helpers.ts";
import { LeastLoadedPolicy } from "./dispatch.ts";
import type { MapRun } from "./map_run.ts";
import type { WorkerSlot } from "./worker_slot.ts";

/** A slot with `load` chunks in flight (only what the policy reads). */
function slot(load: number, depth = 4, state = "ready", outbox = 0, chunkMs = 1): WorkerSlot {
  return {
    state,
    depth,
    chunkMs,
    inflight: new Array(load).fill(null),
    outbox: new Array(outbox).fill(null),
  } as unknown as WorkerSlot;
}

/** A map with `pending` chunks queued and possibly a partial chunk (only what the policy reads). */
function run(name: string, pending: number, partial = false) {
  const r = {
    name,
    pendingCount: pending,
    hasPartial: partial,
    flushPartial() {
      r.hasPartial = false;
      r.pendingCount++;
    },
  };
  return r as typeof r & MapRun;
}

/** The map the policy picks, as the fake it is. */
function pick(policy: LeastLoadedPolicy, runs: ReturnType<typeof run>[]) {
  return policy.pickRun(runs) as ReturnType<typeof run> | undefined;
}

Deno.test("pickWorker: the least-loaded ready worker gets the chunk", () => {
  const policy = new LeastLoadedPolicy(8);
  const slots = [slot(2), slot(0), slot(1)];
  assert.equal(policy.pickWorker(slots), slots[1]);
});

Deno.test("pickWorker: workers that are not ready, or full, are skipped; none fits -> undefined", () => {
  const policy = new LeastLoadedPolicy(8);
  const slots = [slot(0, 4, "starting"), slot(0, 4, "dead"), slot(4, 4), slot(1, 4)];
  assert.equal(policy.pickWorker(slots), slots[3]);
  assert.equal(policy.pickWorker([slot(0, 4, "closed"), slot(4, 4)]), undefined);
});

Deno.test("pickWorker: a worker is refilled only once down to half its depth, unless it is being filled this round", () => {
  const policy = new LeastLoadedPolicy(8);
  assert.equal(policy.pickWorker([slot(3, 4)]), undefined);
  const filling = slot(3, 4, "ready", 1);
  assert.equal(policy.pickWorker([filling]), filling);
  const half = slot(2, 4);
  assert.equal(policy.pickWorker([half]), half);
});

Deno.test("pickRun: maps with queued chunks take turns (round robin)", () => {
  const policy = new LeastLoadedPolicy(8);
  const runs = [run("a", 5), run("b", 5), run("c", 0), run("d", 5)];
  const picked = Array.from({ length: 6 }, () => pick(policy, runs)!.name);
  assert.deepEqual(picked, ["a", "b", "d", "a", "b", "d"]);
});

Deno.test("pickRun: with nothing queued, a map's partial chunk is flushed and sent; else undefined", () => {
  const policy = new LeastLoadedPolicy(8);
  const runs = [run("a", 0), run("b", 0, true)];
  const picked = pick(policy, runs)!;
  assert.equal(picked.name, "b");
  assert.equal(picked.hasPartial, false);
  assert.equal(picked.pendingCount, 1);
  assert.equal(policy.pickRun([run("a", 0), run("b", 0)]), undefined);
  assert.equal(policy.pickRun([]), undefined);
});

Deno.test("wantsWork: a ready worker at or below half its depth", () => {
  const policy = new LeastLoadedPolicy(8);
  assert.equal(policy.wantsWork(slot(2, 4)), true);
  assert.equal(policy.wantsWork(slot(3, 4)), false);
  assert.equal(policy.wantsWork(slot(0, 4, "starting")), false);
});

Deno.test("depth: starts at 4 at most, then adapts to the task time within [2, depth option]", () => {
  assert.equal(new LeastLoadedPolicy(8).initialDepth(), 4);
  assert.equal(new LeastLoadedPolicy(2).initialDepth(), 2);
  const policy = new LeastLoadedPolicy(16);
  const tiny = slot(0, 4, "ready", 0, 0.01);
  policy.adaptDepth(tiny);
  assert.equal(tiny.depth, 16, "tiny tasks: deep, up to the option");
  const long = slot(0, 4, "ready", 0, 100);
  policy.adaptDepth(long);
  assert.equal(long.depth, 2, "long tasks: shallow, at least 2");
  const mid = slot(0, 4, "ready", 0, 1);
  policy.adaptDepth(mid);
  assert.equal(mid.depth, 4, "about 4 ms of queued work");
});

Deno.test("two maps at once: a slow consumer does not block the other map", async () => {
  await using p = await startPool(2);
  let pulled = 0;
  function* counted() {
    for (let i = 0; i < 1000; i++) {
      pulled++;
      yield i;
    }
  }
  const slow = p.map(counted(), { maxInFlight: 8 });
  const first = await slow.next();
  assert.equal(first.done, false);
  // slow is now stalled with a full window; another map must still run to completion
  const other = await collect(p.map(Array.from({ length: 500 }, (_, i) => i), { ordered: false }));
  assert.equal(other.length, 500);
  assert.ok(pulled <= 1 + 8, `the stalled map read only its window: ${pulled}`);
  let n = 1;
  for await (const _ of slow) n++;
  assert.equal(n, 1000);
});

Deno.test("maps interleave fairly on a shared pool", async () => {
  await using p = await startPool(1);
  const order: string[] = [];
  const a = (async () => {
    for await (
      const _ of p.map(
        Array.from({ length: 40 }, () => ({ op: "sleep" as const, ms: 1, value: 0 })),
      )
    ) order.push("a");
  })();
  const b = (async () => {
    for await (
      const _ of p.map(
        Array.from({ length: 40 }, () => ({ op: "sleep" as const, ms: 1, value: 0 })),
      )
    ) order.push("b");
  })();
  await Promise.all([a, b]);
  // b must not wait until a is finished
  assert.ok(order.indexOf("b") < order.lastIndexOf("a"), order.join(""));
});
