import assert from "node:assert/strict";
import { AbortedError, InvalidArgumentError } from "../errors.ts";
import { prefetch } from "./prefetch.ts";
import {
  collect,
  deferred,
  endless,
  settlesNow,
  tracked,
  turns,
} from "../../tests/stream_helpers.ts";

Deno.test("prefetch keeps order for async and sync sources, and keeps length", async () => {
  const [gen] = tracked(50);
  assert.deepEqual(
    await collect(prefetch(gen, { size: 4 })),
    Array.from({ length: 50 }, (_, i) => i),
  );
  const arr = [3, 1, 2];
  const p = prefetch(arr, { size: 1 });
  assert.equal(p.length, 3);
  assert.deepEqual(await collect(p), [3, 1, 2]);
  assert.deepEqual(await collect(prefetch(new Set(["a", "b"]), { size: 8 })), ["a", "b"]);
});

Deno.test("prefetch re-raises the source error after the items before it, then stays failed", async () => {
  const boom = new Error("boom at 5");
  const [gen, track] = tracked(10, { failAt: 5, error: boom });
  const p = prefetch(gen, { size: 3 });
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const x of p) seen.push(x);
  }, (e) => e === boom);
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  assert.equal(track.threw, true);
  const later = p.next();
  assert.equal(await settlesNow(later), true, "a failed prefetch must not block");
  assert.deepEqual(await later, { done: true, value: undefined });
});

Deno.test("prefetch stays finished: next() after the end resolves done at once", async () => {
  const p = prefetch([1], { size: 2 });
  assert.deepEqual(await collect(p), [1]);
  for (let i = 0; i < 3; i++) {
    const r = p.next();
    assert.equal(await settlesNow(r), true);
    assert.equal((await r).done, true);
  }
});

Deno.test("prefetch: early break stops the producer and returns the source", async () => {
  const [gen, track] = endless();
  const p = prefetch(gen, { size: 5 });
  let n = 0;
  for await (const _ of p) if (++n === 3) break;
  assert.equal(track.returned, true);
  const pulledAtBreak = track.pulled;
  assert.ok(pulledAtBreak <= 3 + 5, `pulled ${pulledAtBreak}`);
  await turns(5);
  assert.equal(track.pulled, pulledAtBreak, "nothing keeps running after the break");
  assert.equal(await settlesNow(p.next()), true);
});

Deno.test("prefetch: a slow consumer bounds how far the producer runs ahead", async () => {
  const [gen, track] = endless();
  const size = 4;
  const p = prefetch(gen, { size });
  let consumed = 0;
  for (let k = 0; k < 20; k++) {
    const r = await p.next();
    assert.equal(r.value, consumed);
    consumed++;
    await turns(3); // slow consumer: give the producer every chance to run ahead
    assert.ok(track.pulled <= consumed + size, `pulled ${track.pulled}, consumed ${consumed}`);
  }
  assert.ok(track.pulled > consumed, "the producer did run ahead of the consumer");
  await p.return();
  assert.equal(track.returned, true);
});

Deno.test("prefetch: return() while the source's next() is pending still returns the source", async () => {
  const gate = deferred();
  const [gen, track] = tracked(10, { delay: (i) => i === 2 ? gate.promise : Promise.resolve() });
  const p = prefetch(gen, { size: 8 });
  assert.equal((await p.next()).value, 0);
  await turns(2); // the producer is now stuck in the source's next() for item 2
  const returned = p.return();
  gate.resolve();
  await returned;
  assert.equal(track.returned, true);
});

Deno.test("prefetch: concurrent next() calls get distinct items in order", async () => {
  const [gen] = tracked(5, { delay: () => turns(1) });
  const p = prefetch(gen, { size: 2 });
  const rs = await Promise.all([p.next(), p.next(), p.next(), p.next(), p.next(), p.next()]);
  assert.deepEqual(rs.map((r) => r.value), [0, 1, 2, 3, 4, undefined]);
  assert.equal(rs[5]!.done, true);
});

Deno.test("prefetch: abort rejects a waiting consumer with AbortedError and returns the source", async () => {
  const gate = deferred();
  const [gen, track] = tracked(10, { delay: (i) => i === 1 ? gate.promise : Promise.resolve() });
  const ctl = new AbortController();
  const p = prefetch(gen, { size: 2, signal: ctl.signal });
  assert.equal((await p.next()).value, 0);
  const waiting = p.next();
  ctl.abort(new Error("user stop"));
  await assert.rejects(waiting, AbortedError);
  gate.resolve();
  await turns(3);
  assert.equal(track.returned, true);
  assert.equal((await p.next()).done, true);
});

Deno.test("prefetch: an already-aborted signal fails the first next()", async () => {
  const ctl = new AbortController();
  ctl.abort();
  const p = prefetch([1, 2], { size: 1, signal: ctl.signal });
  await assert.rejects(p.next(), AbortedError);
  assert.equal((await p.next()).done, true);
});

Deno.test("prefetch rejects bad sizes and sources", () => {
  for (const size of [0, -1, 1.5, Number.NaN, "3", undefined]) {
    assert.throws(() => prefetch([1], { size: size as number }), InvalidArgumentError);
  }
  assert.throws(() => prefetch([1], undefined as never), InvalidArgumentError);
  assert.throws(() => prefetch(42 as never, { size: 1 }), InvalidArgumentError);
  assert.throws(() => prefetch([1], { size: 1, signal: {} as never }), InvalidArgumentError);
});

Deno.test("prefetch supports await using (dispose returns the source)", async () => {
  const [gen, track] = endless();
  {
    await using p = prefetch(gen, { size: 2 });
    assert.equal((await p.next()).value, 0);
  }
  assert.equal(track.returned, true);
});
