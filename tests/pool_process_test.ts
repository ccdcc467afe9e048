import assert from "node:assert/strict";
import { TaskError, WorkerCrashError, WorkerInitError, WorkerPool } from "../src/pool/mod.ts";
import type W from "./fixtures/pool_worker.ts";

const MODULE = new URL("./fixtures/pool_worker.ts", import.meta.url);

Deno.test("process backend: stateful map, errors with the child's stack, crash replaced", async () => {
  await using p = await WorkerPool.start<typeof W>({
    module: MODULE,
    size: 2,
    kind: "process",
    init: { procId: -1 },
    perWorker: [{ procId: 0 }, { procId: 1 }],
  });
  const inputs = Array.from({ length: 200 }, (_, i) => (i === 50 ? -1 : i));
  let i = 0;
  for await (const r of p.map(inputs, { errors: "collect" })) {
    assert.equal(r.index, i);
    if (i === 50) {
      assert.ok(!r.ok && r.error instanceof TaskError && /negative input -1/.test(r.error.message));
      assert.match(r.error.workerStack ?? "", /pool_worker\.ts/);
    } else {
      assert.ok(r.ok && r.value.value === 2 * i && (r.value.procId === 0 || r.value.procId === 1));
    }
    i++;
  }
  assert.equal(i, 200);
  // Deno.exit in the child: that task fails, the child is replaced, the rest succeeds
  const res = [];
  for await (const r of p.map([1, { op: "exit" as const }, 3, 4], { errors: "collect" })) {
    res.push(r);
  }
  assert.deepEqual(res.map((r) => r.ok), [true, false, true, true]);
  assert.ok(!res[1]!.ok && res[1]!.error.cause instanceof WorkerCrashError);
  assert.equal(p.insights().reduce((a, w) => a + w.restarts, 0), 1);
  // a SIGKILLed child (no notice at all) is detected from its exit status
  const killed = [];
  for await (const r of p.map([1, { op: "sigkill" as const }, 3], { errors: "collect" })) {
    killed.push(r);
  }
  assert.deepEqual(killed.map((r) => r.ok), [true, false, true]);
  assert.match(String(!killed[1]!.ok && killed[1]!.error.message), /SIGKILL/);
  const again = [];
  for await (const r of p.map([5, 6, 7])) again.push(r.value);
  assert.deepEqual(again, [10, 12, 14]);
});

Deno.test("process backend: init failure names the worker", async () => {
  await assert.rejects(
    () =>
      WorkerPool.start<typeof W>({
        module: MODULE,
        size: 2,
        kind: "process",
        init: { procId: 0, failInit: 0 },
      }),
    (e: unknown) => e instanceof WorkerInitError && e.workerIndex === 0,
  );
});

Deno.test("process backend: a child out of memory fails only its task and is replaced", async () => {
  await using p = await WorkerPool.start<typeof W>({
    module: MODULE,
    size: 2,
    kind: "process",
    init: { procId: 0 },
    denoArgs: ["-A", "--v8-flags=--max-old-space-size=64"],
  });
  const res = [];
  for await (const r of p.map([1, { op: "oom" as const }, 3, 4], { errors: "collect" })) {
    res.push(r);
  }
  assert.deepEqual(res.map((r) => r.ok), [true, false, true, true]);
  assert.ok(!res[1]!.ok && res[1]!.error.cause instanceof WorkerCrashError);
  assert.deepEqual(res.filter((r) => r.ok).map((r) => r.ok && r.value.value), [2, 6, 8]);
});

Deno.test("process backend: large payloads cross the pipes intact", async () => {
  await using p = await WorkerPool.start<typeof W>({
    module: MODULE,
    size: 1,
    kind: "process",
    init: { procId: 0 },
  });
  const out = [];
  for await (const r of p.map([{ op: "buf" as const, bytes: 8 << 20 }, 21])) out.push(r);
  assert.equal(out[0]!.value, 8 << 20);
  assert.equal(out[0]!.buf!.byteLength, 8 << 20);
  assert.equal(new Uint8Array(out[0]!.buf!)[0], 7);
  assert.equal(out[1]!.value, 42);
});
