import assert from "node:assert/strict";
import { ClosedError, InvalidArgumentError, TimeoutError } from "../errors.ts";
import { NativeLoadError, ProducerError } from "./errors.ts";
import { activeImplementation } from "./load.ts";
import { RingQueue } from "./ring_queue.ts";

const ignore = activeImplementation() !== "native";

Deno.test({
  name: "RingQueue: without the addon, create throws NativeLoadError",
  ignore: !ignore,
  fn() {
    assert.throws(() => RingQueue.create(4), NativeLoadError);
  },
});

Deno.test({
  name: "RingQueue: FIFO, bounded, bytes of any view, end after close",
  ignore,
  async fn() {
    using q = RingQueue.create(3);
    assert.equal(q.tryPush(new Uint8Array([1])), true);
    assert.equal(q.tryPush(new Uint16Array([0x0302]).buffer), true);
    assert.equal(q.tryPush(new Float64Array([1, 2]).subarray(1)), true);
    assert.equal(q.tryPush(new Uint8Array([4])), false, "full");
    assert.deepEqual(q.stats(), { messages: 3, bytes: 1 + 2 + 8, closed: false });
    q.close();
    assert.throws(() => q.tryPush(new Uint8Array(1)), ClosedError);
    const got: Uint8Array[] = [];
    for await (const m of q) got.push(m);
    assert.deepEqual([...got[0]!], [1]);
    assert.deepEqual([...got[1]!], [2, 3]);
    assert.deepEqual([...new Float64Array(got[2]!.slice().buffer)], [2]);
    assert.equal(q.pop(), undefined, "end again");
  },
});

Deno.test({
  name: "RingQueue: a failure arrives after the queued messages, as ProducerError",
  ignore,
  async fn() {
    using q = RingQueue.create(4);
    q.tryPush(new Uint8Array([1]));
    q.fail(new Error("disk on fire"));
    const got: number[] = [];
    await assert.rejects(
      async () => {
        for await (const m of q) got.push(m[0]!);
      },
      (e: unknown) =>
        e instanceof ProducerError && /the producer failed: Error: disk on fire/.test(e.message),
    );
    assert.deepEqual(got, [1]);
    assert.throws(() => q.pop(), ProducerError, "the failure stays");
  },
});

Deno.test({
  name: "RingQueue: the main-thread wait wakes on push and on close",
  ignore,
  async fn() {
    using q = RingQueue.create(2);
    const it = q[Symbol.asyncIterator]();
    const first = it.next();
    setTimeout(() => q.tryPush(new Uint8Array([5])), 5);
    assert.deepEqual([...(await first).value!], [5]);
    const second = it.next();
    setTimeout(() => q.close(), 5);
    assert.equal((await second).done, true);
  },
});

Deno.test({
  name: "RingQueue: timeouts, bad arguments, released ids",
  ignore,
  fn() {
    const q = RingQueue.create(1);
    assert.throws(() => q.pop({ timeoutMs: 1 }), TimeoutError);
    q.push(new Uint8Array(1));
    assert.throws(() => q.push(new Uint8Array(1), { timeoutMs: 1 }), TimeoutError);
    assert.throws(() => q.tryPush("text" as never), InvalidArgumentError);
    assert.throws(() => RingQueue.create(0), InvalidArgumentError);
    q.release();
    assert.throws(() => q.tryPush(new Uint8Array(1)), ClosedError);
    // A released id is one no queue has: refused at open (before, only the first use failed).
    assert.throws(() => RingQueue.open(q.id), InvalidArgumentError);
  },
});

Deno.test({
  name: "RingQueue: options and counts are checked at the call; an unknown id is refused at open",
  ignore,
  fn() {
    const q = RingQueue.create(2);
    try {
      const msg = new Uint8Array(1);
      const bad: [string, () => unknown][] = [
        ["push options 42", () => q.push(msg, 42 as never)],
        ["push unknown key", () => q.push(msg, { timeout: 1 } as never)],
        ["push timeoutMs -1", () => q.push(msg, { timeoutMs: -1 })],
        ["push timeoutMs NaN", () => q.push(msg, { timeoutMs: NaN })],
        ["pop timeoutMs Infinity", () => q.pop({ timeoutMs: Infinity })],
        ["tryPopMany 0", () => q.tryPopMany(0)],
        ["tryPopMany 1.5", () => q.tryPopMany(1.5)],
        ["tryPopMany copy 1", () => q.tryPopMany(4, { copy: 1 as never })],
        ["batches 0 (at the call, not at next())", () => q.batches(0)],
        ["close discard 1", () => q.close({ discard: 1 as never })],
        ["close unknown key", () => q.close({ drop: true } as never)],
        ["open 2^31 (no such queue)", () => RingQueue.open(2 ** 31)],
        ["create 2^40 (more than the addon's u32)", () => RingQueue.create(2 ** 40)],
        ["open 2^32 (not a queue id)", () => RingQueue.open(2 ** 32)],
      ];
      for (const [label, call] of bad) {
        assert.throws(call, (e: unknown) =>
          e instanceof InvalidArgumentError &&
          /^Cannot [^:]+: .+, received .+/s.test(e.message), label);
      }
      assert.equal(q.stats().messages, 0); // nothing was pushed by a refused call
    } finally {
      q.release();
    }
    // After release, every use is a ClosedError naming the queue.
    assert.throws(
      () => q.stats(),
      (e: unknown) => e instanceof ClosedError && /received "queue id \d+"/.test(e.message),
    );
  },
});
