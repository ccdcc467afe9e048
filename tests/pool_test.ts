import assert from "node:assert/strict";
import { AbortedError, ClosedError, InvalidArgumentError, TimeoutError } from "../src/errors.ts";
import {
  CloneError,
  defineWorker,
  TaskError,
  WorkerCrashError,
  WorkerDisposeError,
  WorkerInitError,
  WorkerPool,
} from "../src/pool/mod.ts";
import type { PoolWarning, WorkerInsights } from "../src/pool/mod.ts";
import type W from "./fixtures/pool_worker.ts";
import type Spread from "./fixtures/pool_spread.ts";
import { checkErrorKinds } from "./fixtures/pool_error_kinds.ts";

const MODULE = new URL("./fixtures/pool_worker.ts", import.meta.url);

function pool(
  size = 2,
  extra: Partial<ConstructorParameters<typeof WorkerPool<typeof W>>[0]> = {},
) {
  return WorkerPool.start<typeof W>({
    module: MODULE,
    size,
    init: { procId: -1 },
    perWorker: Array.from({ length: size }, (_, i) => ({ procId: i })),
    ...extra,
  });
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

Deno.test("1000 inputs over 4 stateful workers: results in input order, each worker's own state, failures collected at their index", async () => {
  await using p = await pool(4);
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

Deno.test("init args: shared overlaid by per-worker; perWorker length is checked", async () => {
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
  assert.throws(
    () => new WorkerPool<typeof W>({ module: MODULE, size: 3, perWorker: [{ procId: 0 }] }),
    InvalidArgumentError,
  );
});

Deno.test("ordered results under random task durations; unordered is complete", async () => {
  await using p = await pool(3);
  const items = Array.from({ length: 60 }, (_, i) => ({
    op: "sleep" as const,
    ms: Math.floor(Math.random() * 8),
    value: i,
  }));
  const ordered = await collect(p.map(items, { maxInFlight: 12 }));
  assert.deepEqual(ordered.map((r) => r.value), items.map((x) => x.value));
  const unordered = await collect(p.map(items, { ordered: false, maxInFlight: 12 }));
  assert.deepEqual(unordered.map((r) => r.value).sort((a, b) => a - b), items.map((x) => x.value));
});

Deno.test("chunked maps (fixed and auto) keep order and indexes, async sources too", async () => {
  await using p = await pool(2);
  const n = 5000;
  const fixed = await collect(p.map(Array.from({ length: n }, (_, i) => i), { chunkSize: 64 }));
  assert.deepEqual(fixed.map((r) => r.value), Array.from({ length: n }, (_, i) => 2 * i));
  async function* gen() {
    for (let i = 0; i < n; i++) yield i;
  }
  const auto = p.map(gen(), { chunkSize: "auto", errors: "collect" });
  assert.equal(auto.length, undefined);
  let i = 0;
  for await (const r of auto) {
    assert.equal(r.index, i);
    assert.ok(r.ok && r.value.value === 2 * i);
    i++;
  }
  assert.equal(i, n);
  // an error inside a chunk names its own input index
  const bad = Array.from({ length: 300 }, (_, k) => (k === 123 ? -1 : k));
  const res = await collect(p.map(bad, { chunkSize: 50, errors: "collect" }));
  assert.deepEqual(res.filter((r) => !r.ok).map((r) => r.index), [123]);
});

Deno.test("lazy consumption: an infinite source is read only as far as the window allows", async () => {
  await using p = await pool(2);
  let pulled = 0;
  let finalized = false;
  function* naturals() {
    try {
      for (let i = 0;; i++) {
        pulled++;
        yield i;
      }
    } finally {
      finalized = true;
    }
  }
  let seen = 0;
  for await (const r of p.map(naturals(), { maxInFlight: 10 })) {
    assert.equal(r.value, 2 * seen);
    if (++seen === 25) break;
  }
  assert.ok(pulled <= 25 + 10, `pulled ${pulled}`);
  assert.ok(finalized, "the source was closed on break");
});

Deno.test("spread passes positional arguments", async () => {
  await using p = await WorkerPool.start<typeof Spread>({
    module: new URL("./fixtures/pool_spread.ts", import.meta.url),
    size: 2,
  });
  const out = await collect(p.map([[1, "a"], [2, "b"]] as [number, string][], { spread: true }));
  assert.deepEqual(out, ["a1", "b2"]);
});

Deno.test("spread: an input that is not an array fails alone, naming it, not a raw TypeError", async () => {
  await using p = await WorkerPool.start<typeof Spread>({
    module: new URL("./fixtures/pool_spread.ts", import.meta.url),
    size: 1,
  });
  const inputs = [[1, "a"], 42, [3, "c"]] as unknown as [number, string][];
  const res = await collect(p.map(inputs, { spread: true, errors: "collect" }));
  assert.deepEqual(res.map((r) => r.ok), [true, false, true]);
  const e = !res[1]!.ok ? res[1]!.error : undefined;
  assert.ok(e instanceof TaskError && e.cause instanceof InvalidArgumentError, String(e));
  assert.equal(e.received, 42);
  assert.match(
    e.message,
    /^Cannot process input #1: worker 0 threw InvalidArgumentError: .*must be an array.*, received 42$/,
  );
  await assert.rejects(() => collect(p.map(inputs, { spread: true })), TaskError);
});

Deno.test("errors: throw raises at once with the worker's stack and the input index", async () => {
  await using p = await pool(2);
  const inputs = Array.from({ length: 200 }, (_, i) => (i === 10 ? -1 : i));
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const r of p.map(inputs)) got.push(r.value);
  }, TaskError);
  try {
    for await (const _ of p.map(inputs)) { /* consume */ }
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof TaskError);
    assert.equal(e.index, 10);
    assert.match(
      e.message,
      /^Cannot process input #10: worker \d threw Error: negative input -1, received -1$/,
    );
    assert.equal(e.received, -1);
    assert.match(e.workerStack ?? "", /pool_worker\.ts/);
    assert.match(e.stack ?? "", /Caused by \(in worker \d\)/);
  }
  assert.ok(got.length <= 10 && got.every((v, i) => v === 2 * i));
  // the pool is still usable afterwards
  assert.equal((await collect(p.map([1, 2, 3]))).length, 3);
});

Deno.test("errors: throw-after-drain yields everything before the failure, then raises", async () => {
  await using p = await pool(2);
  const inputs = Array.from(
    { length: 100 },
    (_, i) => (i === 40 ? { op: "fail" as const, msg: "bad 40" } : i),
  );
  const got: number[] = [];
  await assert.rejects(
    async () => {
      for await (const r of p.map(inputs, { errors: "throw-after-drain" })) got.push(r.value);
    },
    (e: unknown) => e instanceof TaskError && e.index === 40 && /TypeError: bad 40/.test(e.message),
  );
  assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => 2 * i));
  const unordered: number[] = [];
  await assert.rejects(async () => {
    for await (const r of p.map(inputs, { errors: "throw-after-drain", ordered: false })) {
      unordered.push(r.value);
    }
  }, TaskError);
  assert.ok(unordered.length >= 1 && !unordered.includes(80));
});

Deno.test("init failure rejects start naming the worker, the others are stopped", async () => {
  await assert.rejects(
    () => WorkerPool.start<typeof W>({ module: MODULE, size: 3, init: { procId: 0, failInit: 1 } }),
    (e: unknown) =>
      e instanceof WorkerInitError && e.workerIndex === 1 &&
      /worker 1 failed to initialise: RangeError: init failed in worker 1, received \{"procId":0,"failInit":1\}$/
        .test(e.message) &&
      /pool_worker\.ts/.test(e.stack ?? ""),
  );
  await assert.rejects(
    () =>
      WorkerPool.start({
        module: new URL("./fixtures/does_not_exist.ts", import.meta.url),
        size: 1,
      }),
    WorkerInitError,
  );
  await assert.rejects(
    () => WorkerPool.start({ module: MODULE, size: 1, exportName: "nope" }),
    (e: unknown) =>
      e instanceof WorkerInitError &&
      /InvalidArgumentError: Cannot load the worker module: it has no export "nope"/.test(
        e.message,
      ),
  );
});

Deno.test("a crashing worker (Deno.exit, self.close, async throw) fails its task and is replaced", async () => {
  await using p = await pool(2);
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
  await using p = await pool(2);
  // "stall" waits without keeping the thread busy (a busy loop is covered by the stuck-thread test)
  const inputs = [0, 1, { op: "stall" as const }, 3, 4, 5];
  // 2 s per input: a trivial input never takes that long even on a loaded machine.
  const res = await collect(p.map(inputs, { errors: "collect", timeoutMs: 2_000 }));
  const bad = res.filter((r) => !r.ok);
  assert.deepEqual(bad.map((r) => r.index), [2]);
  assert.ok(!bad[0]!.ok && bad[0]!.error.cause instanceof TimeoutError);
  assert.deepEqual(res.filter((r) => r.ok).map((r) => r.index), [0, 1, 3, 4, 5]);
});

Deno.test("two maps at once: a slow consumer does not block the other map", async () => {
  await using p = await pool(2);
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
  await using p = await pool(1);
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

Deno.test("abort cancels a map: nothing more is yielded after the abort", async () => {
  await using p = await pool(2);
  const ac = new AbortController();
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const r of p.map(Array.from({ length: 1000 }, (_, i) => i), { signal: ac.signal })) {
      got.push(r.value);
      if (got.length === 5) ac.abort(new Error("stop"));
    }
  }, AbortedError);
  assert.equal(got.length, 5);
});

Deno.test("closing the pool ends its active maps with ClosedError, and refuses new ones", async () => {
  await using p = await pool(2);
  const it = p.map([{ op: "sleep" as const, ms: 50, value: 1 }]);
  const pending = assert.rejects(it.next(), ClosedError);
  await p.close();
  await pending;
  assert.throws(() => p.map([1]), ClosedError);
});

Deno.test("transfer moves ArrayBuffers both ways", async () => {
  await using p = await pool(2);
  const res = await collect(p.map([{ op: "buf" as const, bytes: 1 << 20 }], { transfer: true }));
  assert.ok(res[0]!.buf instanceof ArrayBuffer);
  assert.equal(res[0]!.buf!.byteLength, 1 << 20);
  assert.equal(new Uint8Array(res[0]!.buf!)[0], 7);
  // inputs: the sender's buffer is detached after a transfer
  await using p2 = await WorkerPool.start({
    module: new URL("../bench/pool_bench_worker.ts", import.meta.url),
    size: 1,
    init: { mode: "buf", iters: 0 },
  });
  const input = new ArrayBuffer(1024);
  const out = await collect(p2.map([input], { transfer: true }));
  assert.equal(input.byteLength, 0);
  assert.equal((out[0] as ArrayBuffer).byteLength, 1024);
});

Deno.test("bad arguments are refused", async () => {
  await using p = await pool(1);
  assert.throws(() => p.map([1], { chunkSize: 0 }), InvalidArgumentError);
  assert.throws(() => p.map([1], { maxInFlight: -1 }), InvalidArgumentError);
  assert.throws(() => p.map([1], { errors: "ignore" as "throw" }), InvalidArgumentError);
  assert.throws(() => new WorkerPool({ module: MODULE, size: 0 }), InvalidArgumentError);
  await assert.rejects(() => p.map(42 as unknown as number[]).next(), InvalidArgumentError);
  assert.throws(() => defineWorker({} as never), InvalidArgumentError);
  assert.throws(
    () => defineWorker(null as never),
    /^InvalidArgumentError: Cannot define a worker: /,
  );
});

Deno.test("a failing source raises its own error; the pool stays usable", async () => {
  await using p = await pool(2);
  async function* broken() {
    yield 1;
    yield 2;
    throw new SyntaxError("source broke");
  }
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const r of p.map(broken())) got.push(r.value);
  }, SyntaxError);
  assert.ok(got.length <= 2);
  assert.deepEqual((await collect(p.map([4]))).map((r) => r.value), [8]);
});

Deno.test("no leaked workers: a map never iterated, and close() twice, are fine", async () => {
  const p = await pool(2);
  const unused = p.map([1, 2, 3]);
  void unused;
  await p.close();
  await p.close();
  assert.equal(p.closed, true);
  assert.ok(p.insights().every((w) => w.state === "closed"));
});

Deno.test("a slow async source is not held back to fill a large chunk", async () => {
  await using p = await pool(2);
  let sourceDone = false;
  let sawFirst!: () => void;
  const first = new Promise<void>((resolve) => (sawFirst = resolve));
  async function* slow() {
    yield 0;
    // The source goes on only once the first result is out (no timing assumption). Should the
    // pool hold item 0 back to fill its chunk, the source goes on after 10 s and the first
    // result comes after its end: the assertion below fails instead of the test hanging.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([first, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    for (let i = 1; i < 4; i++) yield i;
    sourceDone = true;
  }
  const firstSeenBeforeEnd: boolean[] = [];
  for await (const r of p.map(slow(), { chunkSize: 100 })) {
    firstSeenBeforeEnd.push(!sourceDone && r.value >= 0);
    sawFirst();
  }
  assert.equal(firstSeenBeforeEnd.length, 4);
  assert.equal(firstSeenBeforeEnd[0], true, "the first result came before the source ended");
});

Deno.test("a result that cannot be cloned fails its own input only", async () => {
  await using p = await pool(1);
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

Deno.test("when every worker is dead for good, maps fail instead of hanging", async () => {
  // the fixture's init refuses to run a second time, so the replacement of a crashed worker fails
  try {
    await using p = await WorkerPool.start({
      module: new URL("./fixtures/pool_init_once.ts", import.meta.url),
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

// ------------------------------------------------------------------ issue 9: hardening

Deno.test("one worker, alternating crashes: only the crashing inputs fail, requeued work keeps its order", async () => {
  await using p = await pool(1);
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
  await using p = await pool(1);
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

Deno.test("start fails fast: one init fails at once while another never finishes", async () => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooLate = new Promise<"hung">((
    resolve,
  ) => (timer = setTimeout(() => resolve("hung"), 20_000)));
  const started = WorkerPool.start({
    module: new URL("./fixtures/pool_init_race.ts", import.meta.url),
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

Deno.test("init arguments that cannot be sent: a typed error naming the key", async () => {
  await assert.rejects(
    () => pool(1, { init: { procId: 0, f: () => 1 } as never }),
    (e: unknown) =>
      e instanceof CloneError && e.path === "init.f" &&
      /Cannot start worker pool: init\.f cannot be sent to worker 0: .*function/.test(e.message),
  );
  await assert.rejects(
    () => pool(2, { perWorker: [{ procId: 0 }, { procId: 1, s: Symbol("x") } as never] }),
    (e: unknown) => e instanceof CloneError && e.path === "init.s" && /worker 1/.test(e.message),
  );
});

Deno.test("inputs that cannot be sent fail alone with a typed error naming the input", async () => {
  await using p = await pool(1);
  const inputs: unknown[] = [1, { op: "fail", msg: "x", f: () => 1 }, 3, Symbol("s"), 5];
  const res = await collect(p.map(inputs as number[], { errors: "collect", chunkSize: 1 }));
  assert.deepEqual(res.map((r) => r.ok), [true, false, true, false, true]);
  const e1 = !res[1]!.ok ? res[1]!.error : undefined;
  assert.ok(e1 instanceof TaskError && e1.cause instanceof CloneError, String(e1));
  assert.equal((e1.cause as CloneError).path, "input.f");
  assert.match(e1.message, /^Cannot process input #1: /);
  const e3 = !res[3]!.ok ? res[3]!.error : undefined;
  assert.ok(e3?.cause instanceof CloneError && e3.cause.path === "input");
  // in a chunk, only the bad item fails
  const chunked = await collect(p.map(inputs as number[], { errors: "collect", chunkSize: 5 }));
  assert.deepEqual(chunked.map((r) => r.ok), [true, false, true, false, true]);
  assert.deepEqual(chunked.filter((r) => r.ok).map((r) => r.ok && r.value.value), [2, 6, 10]);
  // throw policy: the map raises the TaskError
  await assert.rejects(() => collect(p.map(inputs as number[])), TaskError);
  assert.equal(p.insights()[0]!.restarts, 0);
});

Deno.test("results that cannot be sent back fail alone, naming the result's key", async () => {
  await using p = await pool(1);
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

Deno.test("init arguments for a module without init are an error", async () => {
  await assert.rejects(
    () =>
      WorkerPool.start({
        module: new URL("./fixtures/pool_spread.ts", import.meta.url),
        size: 1,
        init: { a: 1 },
      }),
    (e: unknown) =>
      e instanceof WorkerInitError && e.cause instanceof InvalidArgumentError &&
      /has no init/.test(e.message),
  );
});

Deno.test("every options object validates: unknown keys listed, wrong types named", async () => {
  assert.throws(
    () => new WorkerPool({ module: MODULE, size: 1, sise: 2 } as never),
    (e: unknown) =>
      e instanceof InvalidArgumentError &&
      /unknown option "sise" \(known: module, size/.test(e.message),
  );
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
  await using p = await pool(1);
  assert.throws(
    () => p.map([1], { chunksize: 4 } as never),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /unknown option "chunksize" \(known: /.test(e.message),
  );
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
  assert.throws(() => p.insights({ x: 1 } as never), InvalidArgumentError);
  assert.throws(
    () => defineWorker({ process: (_s: unknown, x: number) => x, dispoze: () => {} } as never),
    /unknown key "dispoze" \(known: init, process, dispose\)/,
  );
  assert.throws(
    () => defineWorker({ process: (_s: unknown, x: number) => x, init: 3 } as never),
    InvalidArgumentError,
  );
});

Deno.test("worker errors keep their built-in class, own properties and cause chain", async () => {
  await using p = await pool(1);
  await checkErrorKinds(p);
});

/**
 * Run tests/fixtures/pool_stuck_child.ts with `args`, read its one-line JSON report, then kill it
 * if it is still there (a spinning thread never lets it exit).
 */
async function runStuckChild(
  args: string[],
): Promise<{ report: Record<string, unknown>; stderr: string; status: Deno.CommandStatus }> {
  const child = new URL("./fixtures/pool_stuck_child.ts", import.meta.url);
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child.pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<void>((r) => (timer = setTimeout(r, 60_000)));
  while (!out.includes("\n")) {
    const r = await Promise.race([reader.read(), limit.then(() => undefined)]);
    if (r === undefined || r.done) break;
    out += r.value;
  }
  clearTimeout(timer);
  try {
    proc.kill("SIGKILL");
  } catch { /* it exited by itself */ }
  await reader.cancel();
  const status = await proc.status;
  const stderr = new TextDecoder().decode(
    (await new Response(proc.stderr).arrayBuffer()) as ArrayBuffer,
  );
  assert.ok(out.includes("\n"), `no report from the child: ${stderr}`);
  return { report: JSON.parse(out), stderr, status };
}

Deno.test("a busy task past timeoutMs in a thread: the pool reports the thread it cannot stop", async () => {
  for (const mode of ["console", "events"]) {
    const { report, stderr, status } = await runStuckChild(["worker", mode]);
    assert.equal(status.signal, "SIGKILL", "the child does not exit by itself (the thread spins)");
    const insights = report.insights as WorkerInsights[];
    assert.deepEqual(report.results, ["ok", "TimeoutError", "ok"]);
    assert.equal(insights[0]!.stuckThreads, 1);
    if (mode === "console") {
      assert.match(stderr, /still running.*kind: "process"/s);
    } else {
      const warnings = report.warnings as PoolWarning[];
      assert.equal(warnings.length, 2, JSON.stringify(warnings));
      assert.ok(warnings.every((w) => w.code === "thread-still-running"));
      assert.match(warnings[1]!.message, /close.*kind: "process"/s);
    }
  }
});

Deno.test("start fails fast with a thread busy in init: the thread that cannot be stopped is reported", async () => {
  const { report, stderr } = await runStuckChild(["init"]);
  assert.equal(report.error, "WorkerInitError");
  const insights = report.insights as WorkerInsights[];
  assert.deepEqual(insights.map((w) => w.stuckThreads), [0, 1]);
  assert.match(stderr, /worker 1's thread was still in init at close\(\).*kind: "process"/s);
});

Deno.test("a transfer function that throws fails its own inputs with your error, the rest run", async () => {
  await using p = await pool(1);
  const boom = new SyntaxError("no transfer for 2");
  const transfer = (x: unknown) => {
    if (x === 2) throw boom;
    return [];
  };
  const res = await collect(p.map([1, 2, 3], { errors: "collect", transfer }));
  assert.deepEqual(res.map((r) => r.ok), [true, false, true]);
  assert.ok(!res[1]!.ok && res[1]!.error instanceof TaskError && res[1]!.error.cause === boom);
  await assert.rejects(() => collect(p.map([1, 2, 3], { transfer })), TaskError);
});

Deno.test("a transfer function that returns something other than an array fails its inputs with a typed error", async () => {
  await using p = await pool(1);
  const transfer = (x: unknown) => (x === 2 ? 42 : []) as Transferable[];
  const res = await collect(p.map([1, 2, 3], { errors: "collect", transfer }));
  assert.deepEqual(res.map((r) => r.ok), [true, false, true]);
  const e = !res[1]!.ok ? res[1]!.error : undefined;
  assert.ok(e instanceof TaskError && e.cause instanceof InvalidArgumentError, String(e));
  assert.match(
    (e.cause as Error).message,
    /^Cannot map over the worker pool: transfer\(input\) must return an array of Transferable, received 42$/,
  );
});

Deno.test("a failing dispose is not lost: close() stops every worker, then rejects with it", async () => {
  const p = await WorkerPool.start({
    module: new URL("./fixtures/pool_dispose_fail.ts", import.meta.url),
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

Deno.test("a module given as a relative path under a directory named with # and % loads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool pool #1 %20 " });
  const spool = new URL("../src/pool/mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    `${dir}/w.ts`,
    `import { defineWorker } from ${JSON.stringify(spool)};\n` +
      `export default defineWorker({ process: (_s: unknown, x: number) => x + 1 });\n`,
  );
  const cwd = Deno.cwd();
  Deno.chdir(dir);
  try {
    await using p = await WorkerPool.start({ module: "./w.ts", size: 1 });
    const out: number[] = [];
    for await (const r of p.map([1, 2, 3])) out.push(r as number);
    assert.deepEqual(out, [2, 3, 4]);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("map refuses a string source (the stream rule: it would iterate characters)", async () => {
  await using p = await pool(1);
  await assert.rejects(
    async () => {
      for await (const _ of p.map("abc" as never)) { /* never reached */ }
    },
    InvalidArgumentError,
    "string",
  );
});
