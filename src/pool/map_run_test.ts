// Specifications of one pool.map: inputs carried to collected results, and pass-through items
// (ordered: in place; unordered: a fence). Each spec runs against a sync source (the map's
// fast fill loop) and an async one (the general loop).
import assert from "node:assert/strict";
import { AbortedError, InvalidArgumentError } from "../errors.ts";
import { TaskError } from "./errors.ts";
import { WorkerPool } from "./worker_pool.ts";
import type W from "../../tests/fixtures/pool_worker.ts";
import { collect, startPool } from "../../tests/fixtures/pool_helpers.ts";

const MODULE = new URL("../../tests/fixtures/pool_worker.ts", import.meta.url);

function pool(size = 2) {
  return WorkerPool.start<typeof W>({
    module: MODULE,
    size,
    init: { procId: -1 },
    perWorker: Array.from({ length: size }, (_, i) => ({ procId: i })),
  });
}

async function* asyncOf<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const x of items) yield x;
}

const SOURCES = [
  ["sync source", <T>(items: T[]): Iterable<T> | AsyncIterable<T> => items],
  ["async source", <T>(items: T[]): Iterable<T> | AsyncIterable<T> => asyncOf(items)],
] as const;

/** A result as a number: a passed input as is, a worker's `{ value, procId }` by its value. */
const valueOf = (r: unknown): number => typeof r === "number" ? r : (r as { value: number }).value;

/** Pass-through marker of these specs: numbers ending in 3. */
const marked = (x: unknown) => typeof x === "number" && x % 10 === 3;

for (const [name, sourceOf] of SOURCES) {
  Deno.test(`collected results carry their input (${name})`, async () => {
    await using p = await pool();
    const inputs = [1, -2, 3];
    const got = [];
    for await (const r of p.map(sourceOf(inputs), { errors: "collect" })) got.push(r);
    assert.deepEqual(got.map((r) => r.input), inputs);
    assert.deepEqual(got.map((r) => r.index), [0, 1, 2]);
    assert.equal(got[1]!.ok, false);
  });

  Deno.test(`pass-through items come out unchanged at their place, mid-chunk too (${name})`, async () => {
    await using p = await pool();
    const inputs = Array.from({ length: 40 }, (_, i) => i);
    for (const chunkSize of [1, 4, "auto"] as const) {
      const out: unknown[] = [];
      for await (const r of p.map(sourceOf(inputs), { chunkSize, passThrough: marked })) {
        out.push(valueOf(r));
      }
      assert.deepEqual(out, inputs.map((x) => (marked(x) ? x : 2 * x)), `chunkSize ${chunkSize}`);
    }
  });

  Deno.test(`collect: a pass-through item is marked passed, with its input (${name})`, async () => {
    await using p = await pool();
    const got = [];
    const source = sourceOf([1, 13, -2, 23]);
    for await (const r of p.map(source, { errors: "collect", passThrough: marked })) got.push(r);
    assert.deepEqual(got.map((r) => [r.index, r.ok, r.ok && r.passed === true]), [
      [0, true, false],
      [1, true, true],
      [2, false, false],
      [3, true, true],
    ]);
    const passed = got[1]!;
    assert.ok(passed.ok && passed.passed);
    assert.equal(passed.value, 13);
    assert.equal(passed.input, 13);
    assert.ok(!got[2]!.ok && got[2]!.error instanceof TaskError);
  });

  Deno.test(`throw: a failure after a pass-through raises once the items before it are out (${name})`, async () => {
    await using p = await pool();
    const out: unknown[] = [];
    await assert.rejects(async () => {
      for await (const r of p.map(sourceOf([1, 3, -4, 5]), { passThrough: marked })) out.push(r);
    }, TaskError);
    assert.ok(out.length <= 2);
  });

  Deno.test(`throw-after-drain: pass-through items before the failure come out, then it raises (${name})`, async () => {
    await using p = await pool();
    const out: unknown[] = [];
    await assert.rejects(async () => {
      for await (
        const r of p.map(sourceOf([1, 3, -4, 13]), {
          errors: "throw-after-drain",
          passThrough: marked,
        })
      ) out.push(valueOf(r));
    }, (e: unknown) => e instanceof TaskError && e.index === 2);
    assert.deepEqual(out, [2, 3]);
  });

  Deno.test(`unordered: a pass-through item is a fence between earlier and later results (${name})`, async () => {
    await using p = await pool();
    const sleep = (value: number) => ({ op: "sleep" as const, ms: 20 - value, value });
    const inputs = [sleep(0), sleep(1), sleep(2), 3, sleep(4), sleep(5), 13, sleep(7)];
    const order: number[] = [];
    for await (const r of p.map(sourceOf(inputs), { ordered: false, passThrough: marked })) {
      order.push(valueOf(r));
    }
    assert.deepEqual(order.slice(0, 3).sort(), [0, 1, 2]);
    assert.equal(order[3], 3);
    assert.deepEqual(order.slice(4, 6).sort(), [4, 5]);
    assert.deepEqual(order.slice(6), [13, 7]);
  });
}

Deno.test("pass-through items count in maxInFlight until they are taken", async () => {
  await using p = await pool();
  let read = 0;
  function* endless() {
    for (let i = 0;; i++) {
      read++;
      yield i * 10 + 3; // every item passes through
    }
  }
  const it = p.map(endless(), { maxInFlight: 4, passThrough: marked });
  for (let k = 0; k < 3; k++) assert.equal((await it.next()).value, k * 10 + 3);
  assert.ok(read <= 3 + 4, `read ${read}`);
  await it.return?.();
});

Deno.test("abort ends a map holding an unordered pass-through fence", async () => {
  await using p = await pool();
  const ac = new AbortController();
  const it = p.map([{ op: "sleep" as const, ms: 200, value: 1 }, 3, 4], {
    ordered: false,
    passThrough: marked,
    signal: ac.signal,
  });
  const next = it.next();
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(next, AbortedError);
});

Deno.test("a passThrough that throws fails the map with its error; a non-function is refused", async () => {
  await using p = await pool();
  const boom = new Error("boom");
  await assert.rejects(async () => {
    for await (
      const _ of p.map([1, 2], {
        passThrough: () => {
          throw boom;
        },
      })
    ) { /* nothing */ }
  }, (e: unknown) => e === boom);
  assert.throws(
    () => p.map([1], { passThrough: 1 as unknown as () => boolean }),
    (e: unknown) =>
      e instanceof InvalidArgumentError && /passThrough must be a function/.test(String(e)),
  );
});

Deno.test("ordered results stay in input order under random task durations", async () => {
  await using p = await startPool(3);
  const items = Array.from({ length: 60 }, (_, i) => ({
    op: "sleep" as const,
    ms: Math.floor(Math.random() * 8),
    value: i,
  }));
  const ordered = await collect(p.map(items, { maxInFlight: 12 }));
  assert.deepEqual(ordered.map((r) => r.value), items.map((x) => x.value));
});

Deno.test("unordered results are complete under random task durations", async () => {
  await using p = await startPool(3);
  const items = Array.from({ length: 60 }, (_, i) => ({
    op: "sleep" as const,
    ms: Math.floor(Math.random() * 8),
    value: i,
  }));
  const unordered = await collect(p.map(items, { ordered: false, maxInFlight: 12 }));
  assert.deepEqual(unordered.map((r) => r.value).sort((a, b) => a - b), items.map((x) => x.value));
});

Deno.test("errors: throw raises at once with the worker's stack and the input index; the pool stays usable", async () => {
  await using p = await startPool(2);
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

Deno.test("errors: throw-after-drain (ordered) yields everything before the failure, then raises", async () => {
  await using p = await startPool(2);
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
});

Deno.test("errors: throw-after-drain (unordered) yields what completed, stops reading, then raises", async () => {
  await using p = await startPool(2);
  const inputs = Array.from(
    { length: 100 },
    (_, i) => (i === 40 ? { op: "fail" as const, msg: "bad 40" } : i),
  );
  const unordered: number[] = [];
  await assert.rejects(async () => {
    for await (const r of p.map(inputs, { errors: "throw-after-drain", ordered: false })) {
      unordered.push(r.value);
    }
  }, TaskError);
  assert.ok(unordered.length >= 1 && !unordered.includes(80));
});

Deno.test("abort cancels a map: nothing more is yielded after the abort", async () => {
  await using p = await startPool(2);
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
