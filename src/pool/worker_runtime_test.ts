// The worker side: loading the module, init checks, spread, errors rebuilt on the main side.
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { TaskError, WorkerInitError } from "./errors.ts";
import { WorkerPool } from "./worker_pool.ts";
import type Spread from "../../tests/fixtures/pool_spread.ts";
import { checkErrorKinds } from "../../tests/fixtures/pool_error_kinds.ts";
import { collect, MODULE, startPool } from "../../tests/fixtures/pool_helpers.ts";

Deno.test("spread passes each input's array as positional arguments", async () => {
  await using p = await WorkerPool.start<typeof Spread>({
    module: new URL("../../tests/fixtures/pool_spread.ts", import.meta.url),
    size: 2,
  });
  const out = await collect(p.map([[1, "a"], [2, "b"]] as [number, string][], { spread: true }));
  assert.deepEqual(out, ["a1", "b2"]);
});

Deno.test("spread: an input that is not an array fails alone, naming it, not a raw TypeError", async () => {
  await using p = await WorkerPool.start<typeof Spread>({
    module: new URL("../../tests/fixtures/pool_spread.ts", import.meta.url),
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

Deno.test("a module that does not exist fails start with WorkerInitError", async () => {
  await assert.rejects(
    () =>
      WorkerPool.start({
        module: new URL("../../tests/fixtures/does_not_exist.ts", import.meta.url),
        size: 1,
      }),
    WorkerInitError,
  );
});

Deno.test("a module without the named export fails start, naming the export", async () => {
  await assert.rejects(
    () => WorkerPool.start({ module: MODULE, size: 1, exportName: "nope" }),
    (e: unknown) =>
      e instanceof WorkerInitError &&
      /InvalidArgumentError: Cannot load the worker module: it has no export "nope"/.test(
        e.message,
      ),
  );
});

Deno.test("init arguments for a module without init are an error", async () => {
  await assert.rejects(
    () =>
      WorkerPool.start({
        module: new URL("../../tests/fixtures/pool_spread.ts", import.meta.url),
        size: 1,
        init: { a: 1 },
      }),
    (e: unknown) =>
      e instanceof WorkerInitError && e.cause instanceof InvalidArgumentError &&
      /has no init/.test(e.message),
  );
});

Deno.test("worker errors keep their built-in class, own properties and cause chain", async () => {
  await using p = await startPool(1);
  await checkErrorKinds(p);
});
