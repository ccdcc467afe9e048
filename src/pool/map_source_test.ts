// The source side of pool.map: chunk forming, the window, source errors, the source rule.
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { collect, startPool } from "../../tests/fixtures/pool_helpers.ts";

Deno.test("fixed chunks keep input order", async () => {
  await using p = await startPool(2);
  const n = 5000;
  const fixed = await collect(p.map(Array.from({ length: n }, (_, i) => i), { chunkSize: 64 }));
  assert.deepEqual(fixed.map((r) => r.value), Array.from({ length: n }, (_, i) => 2 * i));
});

Deno.test("auto chunks from an async source keep order and indexes; the map has no length", async () => {
  await using p = await startPool(2);
  const n = 5000;
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
});

Deno.test("an error inside a chunk names its own input index", async () => {
  await using p = await startPool(2);
  const bad = Array.from({ length: 300 }, (_, k) => (k === 123 ? -1 : k));
  const res = await collect(p.map(bad, { chunkSize: 50, errors: "collect" }));
  assert.deepEqual(res.filter((r) => !r.ok).map((r) => r.index), [123]);
});

Deno.test("a source that is not iterable is refused at the first next()", async () => {
  await using p = await startPool(1);
  await assert.rejects(() => p.map(42 as unknown as number[]).next(), InvalidArgumentError);
});

Deno.test("lazy consumption: an infinite source is read only as far as the window allows, and closed on break", async () => {
  await using p = await startPool(2);
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

Deno.test("a failing source raises its own error; the pool stays usable", async () => {
  await using p = await startPool(2);
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

Deno.test("a slow async source is not held back to fill a large chunk", async () => {
  await using p = await startPool(2);
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

Deno.test("map refuses a string source (the stream rule: it would iterate characters)", async () => {
  await using p = await startPool(1);
  await assert.rejects(
    async () => {
      for await (const _ of p.map("abc" as never)) { /* never reached */ }
    },
    InvalidArgumentError,
    "string",
  );
});
