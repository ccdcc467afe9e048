import assert from "node:assert/strict";
import { AbortedError, InvalidArgumentError } from "../errors.ts";
import { batch } from "./batch.ts";
import { prefetch } from "./prefetch.ts";
import { channel } from "./channel.ts";
import {
  collect,
  deferred,
  endless,
  timerTracker,
  tracked,
  turns,
} from "../../tests/stream_helpers.ts";

Deno.test("batch by size keeps the final partial batch, never an empty one", async () => {
  assert.deepEqual(await collect(batch([1, 2, 3, 4, 5], { size: 2 })), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(await collect(batch([1, 2, 3, 4], { size: 2 })), [[1, 2], [3, 4]]);
  assert.deepEqual(await collect(batch([], { size: 3 })), []);
  const [gen] = tracked(7);
  assert.deepEqual(await collect(batch(gen, { size: 3 })), [[0, 1, 2], [3, 4, 5], [6]]);
  assert.equal(batch([1, 2, 3, 4, 5], { size: 2 }).length, 3);
  assert.equal(batch([1, 2, 3], { maxBytes: 10 }).length, undefined);
});

Deno.test("batch by bytes counts typed arrays exactly, and takes a custom byteSize", async () => {
  const chunks = [300, 300, 500, 100, 2000, 10].map((n) => new Uint8Array(n));
  const out = await collect(batch(chunks, { maxBytes: 1000 }));
  assert.deepEqual(out.map((b) => b.map((c) => c.byteLength)), [[300, 300, 500], [100, 2000], [
    10,
  ]]);
  const words = ["aa", "bbb", "c", "dddd"];
  const byLen = await collect(batch(words, { maxBytes: 4, byteSize: (w) => w.length }));
  assert.deepEqual(byLen, [["aa", "bbb"], ["c", "dddd"]]);
  // size and bytes together: whichever comes first
  const both = await collect(batch(chunks, { maxBytes: 1000, size: 2 }));
  assert.deepEqual(both.map((b) => b.length), [2, 2, 1, 1]);
});

Deno.test("batch by time flushes a partial batch while the source is idle, losing nothing", async () => {
  using timers = timerTracker();
  const ch = channel<number>({ capacity: 10 });
  const b = batch(ch, { size: 100, maxWaitMs: 20 });
  await ch.send(1);
  await ch.send(2);
  // The source is now idle (a next() on it stays pending): the timer must flush [1, 2].
  const first = await b.next();
  assert.deepEqual(first, { done: false, value: [1, 2] });
  // The pull left pending by the timer receives the next item: nothing lost or duplicated.
  await ch.send(3);
  await ch.send(4);
  ch.close();
  assert.deepEqual(await b.next(), { done: false, value: [3, 4] });
  assert.deepEqual(await b.next(), { done: true, value: undefined });
  assert.equal(timers.live, 0, "no timer left behind");
});

Deno.test("batch by time: a source faster than the timer leaves no timer behind", async () => {
  using timers = timerTracker();
  const [gen] = tracked(25);
  const out = await collect(batch(gen, { size: 4, maxWaitMs: 60_000 }));
  assert.deepEqual(out.flat(), Array.from({ length: 25 }, (_, i) => i));
  assert.equal(out.length, 7);
  assert.equal(timers.live, 0, "every race timer was cleared");
  const [gen2, track2] = endless();
  for await (const _ of batch(gen2, { size: 4, maxWaitMs: 60_000 })) break;
  assert.equal(track2.returned, true);
  assert.equal(timers.live, 0);
});

Deno.test("batch by time: a pending pull at return() is abandoned cleanly (no leaked timer)", async () => {
  using timers = timerTracker();
  const ch = channel<number>({ capacity: 1 });
  const b = batch(ch, { maxWaitMs: 10 });
  await ch.send(1);
  assert.deepEqual((await b.next()).value, [1]);
  const pending = b.next(); // waits on the idle channel, no timer yet (empty batch)
  await b.return();
  assert.equal(ch.closed, true, "the channel consumer was returned");
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.equal(timers.live, 0);
});

Deno.test("batch: the items before a source error come out first, then the error", async () => {
  const boom = new Error("boom");
  const [gen] = tracked(7, { failAt: 5, error: boom });
  const b = batch(gen, { size: 2 });
  assert.deepEqual((await b.next()).value, [0, 1]);
  assert.deepEqual((await b.next()).value, [2, 3]);
  assert.deepEqual((await b.next()).value, [4]);
  await assert.rejects(b.next(), (e) => e === boom);
  assert.equal((await b.next()).done, true);
});

Deno.test("batch: early break returns the source", async () => {
  const [gen, track] = endless();
  for await (const b of batch(gen, { size: 10 })) {
    assert.equal(b.length, 10);
    break;
  }
  assert.equal(track.returned, true);
  const [gen2, track2] = endless();
  for await (const _ of batch(gen2, { size: 10, maxWaitMs: 1000 })) break;
  assert.equal(track2.returned, true);
});

Deno.test("batch over prefetch drains the buffer in order and returns the source on break", async () => {
  const [gen] = tracked(2500);
  const out = await collect(batch(prefetch(gen, { size: 64 }), { size: 1000 }));
  assert.deepEqual(out.map((b) => b.length), [1000, 1000, 500]);
  assert.deepEqual(out.flat(), Array.from({ length: 2500 }, (_, i) => i));
  const [gen2, track2] = endless();
  for await (const _ of batch(prefetch(gen2, { size: 8 }), { size: 5 })) break;
  assert.equal(track2.returned, true);
  // a source error after prefetch: items first, then the error
  const [gen3] = tracked(30, { failAt: 25 });
  const b3 = batch(prefetch(gen3, { size: 4 }), { size: 10 });
  assert.equal((await b3.next()).value!.length, 10);
  assert.equal((await b3.next()).value!.length, 10);
  assert.deepEqual((await b3.next()).value, [20, 21, 22, 23, 24]);
  await assert.rejects(b3.next(), /boom/);
});

Deno.test("batch rejects bad options", () => {
  const bad: unknown[] = [
    undefined,
    {},
    { size: 0 },
    { size: 1.5 },
    { size: -3 },
    { maxBytes: 0 },
    { maxBytes: Number.NaN },
    { maxBytes: Infinity }, // "no byte limit" is said by leaving maxBytes out
    { size: 2, maxBytes: Infinity },
    { maxWaitMs: 0 },
    { maxWaitMs: Infinity },
    { size: 2, byteSize: 3 },
    { size: "2" },
  ];
  for (const o of bad) {
    assert.throws(() => batch([1], o as never), InvalidArgumentError, JSON.stringify(o));
  }
  assert.throws(() => batch(5 as never, { size: 1 }), InvalidArgumentError);
});

Deno.test("batch with a deferred source emits on count without waiting for the timer", async () => {
  const gate = deferred();
  const [gen] = tracked(4, { delay: (i) => i === 3 ? gate.promise : Promise.resolve() });
  const b = batch(gen, { size: 3, maxWaitMs: 60_000 });
  assert.deepEqual((await b.next()).value, [0, 1, 2]);
  gate.resolve();
  assert.deepEqual((await b.next()).value, [3]);
  assert.equal((await b.next()).done, true);
});

Deno.test("batch: aborting the signal ends a batch waiting on an idle source", async () => {
  using timers = timerTracker();
  const gate = deferred();
  // Item 0 arrives, then the source goes quiet until `gate` opens.
  const [gen, track] = tracked(5, { delay: (i) => i === 1 ? gate.promise : Promise.resolve() });
  const ctl = new AbortController();
  const b = batch(gen, { size: 3, maxWaitMs: 60_000, signal: ctl.signal });
  const pending = b.next();
  await turns(2);
  ctl.abort(new Error("operator stop"));
  await assert.rejects(pending, (e: unknown) => {
    assert.ok(e instanceof AbortedError);
    assert.equal((e.cause as Error).message, "operator stop");
    return true;
  });
  assert.equal(timers.live, 0, "the maxWaitMs timer is cleared at once");
  assert.deepEqual(await b.next(), { done: true, value: undefined }); // reported once
  gate.resolve(); // the source's pending next() settles: its return() (queued) then runs
  await turns(3);
  assert.equal(track.returned, true, "the source is returned");
});

Deno.test("batch: a signal aborted before the first next() gives AbortedError once", async () => {
  const [gen, track] = tracked(5);
  const b = batch(gen, { size: 2, signal: AbortSignal.abort(new Error("too late")) });
  await assert.rejects(b.next(), AbortedError);
  assert.deepEqual(await b.next(), { done: true, value: undefined });
  await turns(1);
  assert.equal(track.pulled, 0);
});

Deno.test("batch: a throwing byteSize is thrown after the batch so far, and returns the source", async () => {
  const [gen, track] = tracked(10);
  const b = batch(gen, {
    maxBytes: 100,
    byteSize: (x: number) => {
      if (x === 2) throw new RangeError("cannot size 2");
      return 1;
    },
  });
  const got: number[][] = [];
  await assert.rejects(async () => {
    for await (const group of b) got.push(group);
  }, RangeError);
  assert.deepEqual(got, [[0, 1, 2]]);
  assert.equal(track.returned, true, "the source is returned");
});

Deno.test("batch: a byteSize that returns a non-number, NaN, a negative or Infinity is an InvalidArgumentError", async () => {
  for (const bad of ["3", NaN, -1, Infinity, undefined]) {
    const [gen, track] = tracked(10);
    const b = batch(gen, { maxBytes: 100, byteSize: (x: number) => (x === 2 ? bad : 1) as number });
    await assert.rejects(
      async () => {
        for await (const _ of b) { /* consume */ }
      },
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        /^Cannot batch a source: byteSize\(item\) must return a finite number >= 0, received /.test(
          e.message,
        ),
      String(bad),
    );
    assert.equal(track.returned, true, "the source is returned");
  }
});
