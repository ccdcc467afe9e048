// Sending chunks: transfer lists, inputs that cannot be sent.
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { CloneError, TaskError } from "./errors.ts";
import { WorkerPool } from "./worker_pool.ts";
import { collect, startPool } from "../../tests/fixtures/pool_helpers.ts";

Deno.test("transfer moves result ArrayBuffers back from the worker", async () => {
  await using p = await startPool(2);
  const res = await collect(p.map([{ op: "buf" as const, bytes: 1 << 20 }], { transfer: true }));
  assert.ok(res[0]!.buf instanceof ArrayBuffer);
  assert.equal(res[0]!.buf!.byteLength, 1 << 20);
  assert.equal(new Uint8Array(res[0]!.buf!)[0], 7);
});

Deno.test("transfer moves input ArrayBuffers: the sender's buffer is detached", async () => {
  await using p2 = await WorkerPool.start({
    module: new URL("../../bench/pool_bench_worker.ts", import.meta.url),
    size: 1,
    init: { mode: "buf", iters: 0 },
  });
  const input = new ArrayBuffer(1024);
  const out = await collect(p2.map([input], { transfer: true }));
  assert.equal(input.byteLength, 0);
  assert.equal((out[0] as ArrayBuffer).byteLength, 1024);
});

const UNSENDABLE: unknown[] = [1, { op: "fail", msg: "x", f: () => 1 }, 3, Symbol("s"), 5];

Deno.test("inputs that cannot be sent fail alone with a typed error naming the input", async () => {
  await using p = await startPool(1);
  const res = await collect(p.map(UNSENDABLE as number[], { errors: "collect", chunkSize: 1 }));
  assert.deepEqual(res.map((r) => r.ok), [true, false, true, false, true]);
  const e1 = !res[1]!.ok ? res[1]!.error : undefined;
  assert.ok(e1 instanceof TaskError && e1.cause instanceof CloneError, String(e1));
  assert.equal((e1.cause as CloneError).path, "input.f");
  assert.match(e1.message, /^Cannot process input #1: /);
  const e3 = !res[3]!.ok ? res[3]!.error : undefined;
  assert.ok(e3?.cause instanceof CloneError && e3.cause.path === "input");
  assert.equal(p.insights()[0]!.restarts, 0);
});

Deno.test("in a chunk, only the input that cannot be sent fails", async () => {
  await using p = await startPool(1);
  const chunked = await collect(p.map(UNSENDABLE as number[], { errors: "collect", chunkSize: 5 }));
  assert.deepEqual(chunked.map((r) => r.ok), [true, false, true, false, true]);
  assert.deepEqual(chunked.filter((r) => r.ok).map((r) => r.ok && r.value.value), [2, 6, 10]);
  assert.equal(p.insights()[0]!.restarts, 0);
});

Deno.test("throw policy: an input that cannot be sent raises its TaskError; the worker is not restarted", async () => {
  await using p = await startPool(1);
  await assert.rejects(() => collect(p.map(UNSENDABLE as number[])), TaskError);
  assert.equal(p.insights()[0]!.restarts, 0);
});

Deno.test("a transfer function that throws fails its own inputs with your error, the rest run", async () => {
  await using p = await startPool(1);
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
  await using p = await startPool(1);
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
