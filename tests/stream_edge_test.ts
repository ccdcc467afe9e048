/** Edge cases across the stream stages: odd sources, odd timing, repeated calls. */
import assert from "node:assert/strict";
import { ClosedError } from "../src/errors.ts";
import {
  batch,
  channel,
  filter,
  map,
  merge,
  prefetch,
  progress,
  type Stage,
  tee,
  zip,
} from "../src/stream/mod.ts";
import { collect, deferred, endless, settlesNow, tracked, turns } from "./stream_helpers.ts";

function* throwingSync(n: number) {
  for (let i = 0; i < n; i++) yield i;
  throw new Error("sync source broke");
}

Deno.test("every stage re-raises a sync source's throw after its items", async () => {
  assert.deepEqual(await collectUntilError(prefetch(throwingSync(3), { size: 2 })), [0, 1, 2]);
  assert.deepEqual(await collectUntilError(map(throwingSync(3), (x) => x)), [0, 1, 2]);
  assert.deepEqual(
    await collectUntilError(map(throwingSync(3), (x) => x, { concurrency: 3 })),
    [0, 1, 2],
  );
  assert.deepEqual(
    (await collectUntilError(map(throwingSync(3), (x) => x, { concurrency: 3, ordered: false })))
      .sort(),
    [0, 1, 2],
  );
  assert.deepEqual(await collectUntilError(filter(throwingSync(3), () => true)), [0, 1, 2]);
  assert.deepEqual(await collectUntilError(batch(throwingSync(3), { size: 2 })), [[0, 1], [2]]);
  assert.deepEqual(await collectUntilError(progress(throwingSync(3), { output: () => {} })), [
    0,
    1,
    2,
  ]);
  assert.deepEqual(await collectUntilError(merge(throwingSync(3))), [0, 1, 2]);
  const [t] = tee(throwingSync(3), 1, { capacity: 2 });
  assert.deepEqual(await collectUntilError(t!), [0, 1, 2]);
});

async function collectUntilError<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  await assert.rejects(async () => {
    for await (const x of source) out.push(x);
  }, /sync source broke/);
  return out;
}

Deno.test("null and undefined are values everywhere (roverd ended on None)", async () => {
  const src = [1, null, undefined, 0, ""];
  assert.deepEqual(await collect(prefetch(src, { size: 2 })), src);
  assert.deepEqual(await collect(map(src, (x) => x, { concurrency: 2 })), src);
  assert.deepEqual((await collect(batch(src, { size: 10 })))[0], src);
  const ch = channel<unknown>({ capacity: 5 });
  for (const v of src) await ch.send(v);
  ch.close();
  assert.deepEqual(await collect(ch), src);
});

Deno.test("batch over a channel drains its buffer without a promise per item", async () => {
  const ch = channel<number>({ capacity: 100 });
  for (let i = 0; i < 100; i++) ch.trySend(i);
  ch.close();
  const out = await collect(batch(ch, { size: 30 }));
  assert.deepEqual(out.map((b) => b.length), [30, 30, 30, 10]);
  assert.deepEqual(out.flat(), Array.from({ length: 100 }, (_, i) => i));
});

Deno.test("channel: a failure with senders still blocked delivers their values first", async () => {
  const ch = channel<number>({ capacity: 1 });
  await ch.send(1);
  const s2 = ch.send(2);
  ch.fail(new Error("late failure"));
  await assert.rejects(ch.send(3), ClosedError);
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const v of ch) got.push(v);
  }, /late failure/);
  await s2;
  assert.deepEqual(got, [1, 2]);
});

Deno.test("merge with empty and sync sources; zip of sync and async sources", async () => {
  assert.deepEqual((await collect(merge([], [1, 2], []))).sort(), [1, 2]);
  const [g] = tracked(["a", "b"]);
  assert.deepEqual(await collect(zip([1, 2, 3], g)), [[1, "a"], [2, "b"]]);
});

function withOne<C extends { trySend(v: number): boolean }>(ch: C): C {
  ch.trySend(1);
  return ch;
}

Deno.test("return() twice, next() after return(), and dispose are harmless everywhere", async () => {
  const stages = () => {
    const [a] = endless();
    const [b] = endless();
    const [c] = endless();
    const [d] = endless();
    const [e] = endless();
    const [f] = endless();
    return <Stage<unknown>[]> [
      prefetch(a, { size: 2 }),
      map(b, (x) => x, { concurrency: 2 }),
      batch(c, { size: 2, maxWaitMs: 100 }),
      tee(d, 2, { capacity: 2 })[0]!,
      merge(e),
      progress(f, { output: () => {} }),
      withOne(channel<number>({ capacity: 1 })),
    ];
  };
  for (const s of stages()) {
    await s.next().catch(() => {});
    await s.return();
    await s.return();
    const r = s.next();
    assert.equal(await settlesNow(r), true);
    assert.equal((await r).done, true);
    await s[Symbol.asyncDispose]();
  }
  await turns(2);
});

Deno.test("prefetch size 1 over a slow source still delivers everything in order", async () => {
  const [gen] = tracked(20, { delay: () => turns(1) });
  assert.deepEqual(
    await collect(prefetch(gen, { size: 1 })),
    Array.from({ length: 20 }, (_, i) => i),
  );
});

Deno.test("return() while the consumer's next() is pending settles both, for every stage", async () => {
  const makers: [string, (src: AsyncIterable<number>) => Stage<unknown>][] = [
    ["prefetch", (s) => prefetch(s, { size: 2 })],
    ["map c=2", (s) => map(s, (x) => x, { concurrency: 2 })],
    ["map c=2 unordered", (s) => map(s, (x) => x, { concurrency: 2, ordered: false })],
    ["tee", (s) => tee(s, 1, { capacity: 2 })[0]!],
    ["merge", (s) => merge(s)],
  ];
  for (const [name, make] of makers) {
    const gate = deferred();
    const [gen, track] = tracked(10, { delay: (i) => i === 0 ? gate.promise : Promise.resolve() });
    const stage = make(gen);
    const pending = stage.next();
    await turns(2);
    const returned = stage.return();
    gate.resolve();
    await returned;
    assert.deepEqual(await pending, { done: true, value: undefined }, name);
    assert.equal(track.returned, true, name);
  }
});
