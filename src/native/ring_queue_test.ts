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
    assert.throws(() => RingQueue.open(q.id).pop(), ClosedError);
  },
});
