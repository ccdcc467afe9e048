// WorkerPool facade: start, init arguments, close, insights, its options.
import assert from "node:assert/strict";
import { ClosedError, InvalidArgumentError } from "../errors.ts";
import { CloneError, TaskError, WorkerDisposeError, WorkerInitError } from "./errors.ts";
import { WorkerPool } from "./worker_pool.ts";
import type W from "../../tests/fixtures/pool_worker.ts";
import { collect, MODULE, startPool } from "../../tests/fixtures/pool_helpers.ts";

Deno.test("a map over 4 stateful workers: results in input order, each worker's own state, failures collected at their index, insights counted", async () => {
  await using p = await startPool(4);
  const inputs = Array.from({ length: 1000 }, (_, k) => (k % 250 === 7 ? -k : k * 10));
  const res = p.map(inputs, { errors: "collect" });
  assert.equal(res.length, 1000);
  let total = 0;
  const procIds = new Set<number>();
  const failed: number[] = [];
  let i = 0;
  for await (const r of res) {
    assert.equal(r.index, i++);
    if (!r.ok) {
      assert.ok(r.error instanceof TaskError);
      assert.match(r.error.message, /negative input/);
      failed.push(r.index);
    } else {
      total += r.value.value;
      procIds.add(r.value.procId);
    }
  }
  assert.deepEqual(failed, [7, 257, 507, 757]);
  const expected = inputs.filter((x) => x >= 0).reduce((a, x) => a + 2 * x, 0);
  assert.equal(total, expected);
  assert.ok([...procIds].every((id) => id >= 0 && id < 4));
  assert.ok(procIds.size >= 2, "work spread over several workers");
  const ins = p.insights();
  assert.equal(ins.reduce((a, w) => a + w.tasks, 0), 1000);
  assert.ok(ins.every((w) => w.initMs >= 0 && w.busyMs >= 0 && w.idleMs >= 0));
});

Deno.test("init arguments: the shared init is overlaid by each worker's perWorker entry", async () => {
  await using p = await WorkerPool.start<typeof W>({
    module: MODULE,
    size: 2,
    init: { procId: 9, offset: 1000 },
    perWorker: [{ procId: 0 }, { procId: 1, offset: 5 }],
  });
  const out = await collect(p.map([1, 2, 3, 4, 5, 6, 7, 8], { chunkSize: 1 }));
  out.forEach((r, i) => {
    const x = i + 1;
    if (r.procId === 0) assert.equal(r.value, 2 * x + 1000);
    else assert.deepEqual([r.procId, r.value], [1, 2 * x + 5]);
  });
});

Deno.test("init arguments: perWorker must have one entry per worker", () => {
  assert.throws(
    () => new WorkerPool<typeof W>({ module: MODULE, size: 3, perWorker: [{ procId: 0 }] }),
    InvalidArgumentError,
  );
});

Deno.test("a failing init rejects start naming the worker, the others are stopped", async () => {
  await assert.rejects(
    () => WorkerPool.start<typeof W>({ module: MODULE, size: 3, init: { procId: 0, failInit: 1 } }),
    (e: unknown) =>
      e instanceof WorkerInitError && e.workerIndex === 1 &&
      /worker 1 failed to initialise: RangeError: init failed in worker 1, received \{"procId":0,"failInit":1\}$/
        .test(e.message) &&
      /pool_worker\.ts/.test(e.stack ?? ""),
  );
});

Deno.test("closing the pool ends its active maps with ClosedError, and refuses new ones", async () => {
  await using p = await startPool(2);
  const it = p.map([{ op: "sleep" as const, ms: 50, value: 1 }]);
  const pending = assert.rejects(it.next(), ClosedError);
  await p.close();
  await pending;
  assert.throws(() => p.map([1]), ClosedError);
});

Deno.test("no leaked workers: a map never iterated, and close() twice, are fine", async () => {
  const p = await startPool(2);
  const unused = p.map([1, 2, 3]);
  void unused;
  await p.close();
  await p.close();
  assert.equal(p.closed, true);
  assert.ok(p.insights().every((w) => w.state === "closed"));
});

Deno.test("when every worker is dead for good, maps fail instead of hanging", async () => {
  // the fixture's init refuses to run a second time, so the replacement of a crashed worker fails
  try {
    await using p = await WorkerPool.start({
      module: new URL("../../tests/fixtures/pool_init_once.ts", import.meta.url),
      size: 1,
    });
    const got: unknown[] = [];
    await assert.rejects(
      async () => {
        for await (const r of p.map([1, "exit", 3], { errors: "collect" })) got.push(r.ok);
      },
      (e: unknown) => e instanceof WorkerInitError && /refuses to run twice/.test(e.message),
    );
    // 1 succeeds; "exit" is named by the worker's crash notice (replies are flushed first) and
    // fails alone; 3 is requeued, and the replacement's failed init ends the map.
    assert.deepEqual(got, [true, false]);
    await assert.rejects(() => collect(p.map([4])), ClosedError);
  } finally {
    Deno.env.delete("SPOOL_POOL_INIT_ONCE");
  }
});

Deno.test("start fails fast: one init fails at once while another never finishes", async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooLate = new Promise<"hung">((
    resolve,
  ) => (timer = setTimeout(() => resolve("hung"), 20_000)));
  const started = WorkerPool.start({
    module: new URL("../../tests/fixtures/pool_init_race.ts", import.meta.url),
    size: 3,
  }).then(
    async (p) => {
      await p.close();
      return "started";
    },
    (e: unknown) => e,
  );
  const outcome = await Promise.race([started, tooLate]);
  clearTimeout(timer);
  assert.ok(
    outcome instanceof WorkerInitError && outcome.workerIndex === 0 &&
      outcome.cause instanceof RangeError && /worker 0 cannot start/.test(outcome.message),
    String(outcome),
  );
  // if start had hung, let it end (it cannot: the pool is closed when start rejects)
});

Deno.test("init arguments that cannot be sent: a typed error naming the key of the shared init", async () => {
  await assert.rejects(
    () => startPool(1, { init: { procId: 0, f: () => 1 } as never }),
    (e: unknown) =>
      e instanceof CloneError && e.path === "init.f" &&
      /Cannot start worker pool: init\.f cannot be sent to worker 0: .*function/.test(e.message),
  );
});

Deno.test("init arguments that cannot be sent: a typed error naming the key and the worker of a perWorker entry", async () => {
  await assert.rejects(
    () => startPool(2, { perWorker: [{ procId: 0 }, { procId: 1, s: Symbol("x") } as never] }),
    (e: unknown) => e instanceof CloneError && e.path === "init.s" && /worker 1/.test(e.message),
  );
});

Deno.test("a failing dispose is not lost: close() stops every worker, then rejects with it", async () => {
  const p = await WorkerPool.start({
    module: new URL("../../tests/fixtures/pool_dispose_fail.ts", import.meta.url),
    size: 2,
  });
  assert.deepEqual(await collect(p.map([1, 2])), [1, 2]);
  await assert.rejects(
    () => p.close(),
    (e: unknown) =>
      e instanceof WorkerDisposeError && e.cause instanceof RangeError &&
      (e.cause as unknown as { code: string }).code === "E_DISPOSE" &&
      /^Cannot dispose of a worker: dispose\(\) threw RangeError: dispose failed, received worker \d$/
        .test(e.message),
  );
  assert.ok(p.closed && p.insights().every((w) => w.state === "closed"));
});

Deno.test("pool options validate: an unknown key is listed with the known ones", () => {
  assert.throws(
    () => new WorkerPool({ module: MODULE, size: 1, sise: 2 } as never),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /unknown option "sise" \(known: module, size/.test(e.message),
  );
});

Deno.test("pool options validate: a wrong type or range is refused, and so is a non-object", () => {
  for (
    const bad of [
      { kind: "thread" },
      { exportName: 3 },
      { denoArgs: "-A" },
      { denoArgs: [1] },
      { onWarning: "log" },
      { perWorker: {} },
      { closeTimeoutMs: -1 },
      { depth: 1.5 },
    ]
  ) {
    assert.throws(
      () => new WorkerPool({ module: MODULE, size: 1, ...bad } as never),
      InvalidArgumentError,
      JSON.stringify(bad),
    );
  }
  assert.throws(() => new WorkerPool(null as never), InvalidArgumentError);
});

Deno.test("pool options validate: size 0 is refused", () => {
  assert.throws(() => new WorkerPool({ module: MODULE, size: 0 }), InvalidArgumentError);
});

Deno.test("insights refuses options it does not know", async () => {
  await using p = await startPool(1);
  assert.throws(() => p.insights({ x: 1 } as never), InvalidArgumentError);
});
