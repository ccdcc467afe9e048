import assert from "node:assert/strict";
import {
  CloneError,
  TaskError,
  WorkerCrashError,
  WorkerInitError,
  WorkerPool,
} from "../src/pool/mod.ts";
import type W from "./fixtures/pool_worker.ts";
import { checkErrorKinds } from "./fixtures/pool_error_kinds.ts";

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

// ------------------------------------------------------------------ issue 9: hardening

function processPool(size = 1, extra: Record<string, unknown> = {}) {
  return WorkerPool.start<typeof W>({
    module: MODULE,
    size,
    kind: "process",
    init: { procId: 0 },
    ...extra,
  });
}

Deno.test("process backend: alternating crashes fail only the crashing inputs, in order", async () => {
  await using p = await processPool(1);
  const inputs = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? { op: "exit" as const } : i));
  const res = [];
  for await (const r of p.map(inputs, { errors: "collect", ordered: false })) res.push(r);
  assert.deepEqual(res.map((r) => r.index), inputs.map((_, i) => i));
  assert.deepEqual(res.filter((r) => !r.ok).map((r) => r.index), [0, 2, 4, 6, 8]);
  // a SIGKILL gives no notice: the chunks are retried isolated, and still only the culprit fails
  const killed = [];
  const kills = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? { op: "sigkill" as const } : i));
  for await (const r of p.map(kills, { errors: "collect" })) killed.push(r);
  assert.deepEqual(killed.filter((r) => !r.ok).map((r) => r.index), [0, 2, 4, 6]);
});

Deno.test("process backend: init arguments and results that cannot be sent are typed errors", async () => {
  await assert.rejects(
    () => processPool(1, { init: { procId: 0, f: () => 1 } }),
    (e: unknown) =>
      e instanceof CloneError && e.path === "init.f" &&
      /cannot be sent to worker 0/.test(e.message),
  );
  await using p = await processPool(1);
  const inputs: unknown[] = [1, { f: () => 1 }, { op: "sym" }, { op: "fn" }, 5];
  const res = [];
  for await (const r of p.map(inputs as number[], { errors: "collect", chunkSize: 5 })) res.push(r);
  assert.deepEqual(res.map((r) => r.ok), [true, false, false, false, true]);
  const paths = res.map((
    r,
  ) => (!r.ok && r.error.cause instanceof CloneError ? r.error.cause.path : ""));
  assert.deepEqual(paths, ["", "input.f", "result.sym", "result.fn", ""]);
});

Deno.test("process backend: worker errors keep their built-in class, properties and causes", async () => {
  await using p = await processPool(1);
  await checkErrorKinds(p);
});

Deno.test("process backend: start fails fast when one init fails and another hangs", async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooLate = new Promise<"hung">((
    resolve,
  ) => (timer = setTimeout(() => resolve("hung"), 30_000)));
  const outcome = await Promise.race([
    WorkerPool.start({
      module: new URL("./fixtures/pool_init_race.ts", import.meta.url),
      size: 2,
      kind: "process",
    }).then(async (p) => {
      await p.close();
      return "started";
    }, (e: unknown) => e),
    tooLate,
  ]);
  clearTimeout(timer);
  assert.ok(
    outcome instanceof WorkerInitError && outcome.workerIndex === 0 &&
      outcome.cause instanceof RangeError,
    String(outcome),
  );
});

Deno.test("process backend: a busy task past timeoutMs is killed, and the script exits by itself", async () => {
  const proc = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./fixtures/pool_stuck_child.ts", import.meta.url).pathname,
      "process",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 60_000)));
  const outcome = await Promise.race([proc.output(), limit]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    proc.kill("SIGKILL");
    await proc.output();
    assert.fail("the script did not exit within 60 s after pool.close()");
  }
  const out = new TextDecoder().decode(outcome.stdout);
  assert.equal(outcome.code, 0, new TextDecoder().decode(outcome.stderr));
  const report = JSON.parse(out);
  assert.deepEqual(report.results, ["ok", "TimeoutError", "ok"]);
  assert.equal(report.insights[0].stuckThreads, 0);
});
