import assert from "node:assert/strict";
import { AbortedError, ClosedError, InvalidArgumentError } from "../errors.ts";
import { channel } from "./channel.ts";
import { collect, settlesNow, turns } from "../../tests/stream_helpers.ts";

Deno.test("channel delivers sent values in order, then ends after close", async () => {
  const ch = channel<number>({ capacity: 4 });
  const producer = (async () => {
    for (let i = 0; i < 20; i++) await ch.send(i);
    ch.close();
  })();
  assert.deepEqual(await collect(ch), Array.from({ length: 20 }, (_, i) => i));
  await producer;
  assert.equal(await settlesNow(ch.next()), true, "a finished channel answers at once");
});

Deno.test("channel send waits while the buffer is full (backpressure)", async () => {
  const ch = channel<number>({ capacity: 2 });
  assert.equal(ch.trySend(1), true);
  assert.equal(ch.trySend(2), true);
  assert.equal(ch.trySend(3), false);
  assert.equal(ch.size, 2);
  let sent = false;
  const p = ch.send(3).then(() => sent = true);
  await turns(2);
  assert.equal(sent, false, "send must wait while full");
  assert.equal((await ch.next()).value, 1);
  await p;
  assert.equal(sent, true);
  assert.equal(ch.size, 2);
  ch.close();
  assert.deepEqual(await collect(ch), [2, 3]);
});

Deno.test("channel: an Error sent as a value is a value; fail() is a failure", async () => {
  const ch = channel<unknown>({ capacity: 8 });
  const asValue = new Error("I am data");
  await ch.send(asValue);
  await ch.send(undefined);
  await ch.send(null);
  await ch.send(0);
  const failure = new TypeError("producer broke");
  ch.fail(failure);
  assert.equal(ch.closed, true);
  const got: unknown[] = [];
  await assert.rejects(async () => {
    for await (const v of ch) got.push(v);
  }, (e) => e === failure);
  assert.deepEqual(got, [asValue, undefined, null, 0]);
  assert.equal(got[0], asValue);
  assert.deepEqual(await ch.next(), { done: true, value: undefined }, "the failure is sticky-done");
  await assert.rejects(ch.send(1), ClosedError);
});

Deno.test("channel: send after close rejects with ClosedError; close is idempotent", async () => {
  const ch = channel<number>({ capacity: 1 });
  ch.close();
  ch.close();
  ch.fail(new Error("ignored after close"));
  await assert.rejects(ch.send(1), ClosedError);
  assert.throws(() => ch.trySend(1), ClosedError);
  assert.deepEqual(await ch.next(), { done: true, value: undefined });
});

Deno.test("channel: pending sends before close are still delivered", async () => {
  const ch = channel<number>({ capacity: 1 });
  await ch.send(1);
  const s2 = ch.send(2);
  ch.close();
  assert.deepEqual(await collect(ch), [1, 2]);
  await s2;
});

Deno.test("channel capacity 0 is a rendezvous", async () => {
  const ch = channel<string>({ capacity: 0 });
  let delivered = false;
  const s = ch.send("x").then(() => delivered = true);
  await turns(2);
  assert.equal(delivered, false);
  assert.equal((await ch.next()).value, "x");
  await s;
  assert.equal(delivered, true);
  const r = ch.next();
  assert.equal(ch.trySend("y"), true, "a waiting receiver takes it directly");
  assert.equal((await r).value, "y");
});

Deno.test("channel: the consumer's break drops the buffer and refuses senders", async () => {
  const ch = channel<number>({ capacity: 1 });
  await ch.send(1);
  const admitted = ch.send(2); // enters the buffer when 1 is taken
  const blocked = ch.send(3); // still waiting at the break
  for await (const _ of ch) break;
  await admitted;
  await assert.rejects(blocked, ClosedError);
  await assert.rejects(ch.send(4), ClosedError);
  assert.equal(ch.size, 0, "the buffer was dropped");
  assert.equal(ch.closed, true);
});

Deno.test("channel: abort rejects pending receives and sends with AbortedError", async () => {
  const ctl = new AbortController();
  const rx = channel<number>({ capacity: 1, signal: ctl.signal });
  const receive = rx.next();
  const tx = channel<number>({ capacity: 0, signal: ctl.signal });
  const send = tx.send(1);
  ctl.abort(new Error("stop"));
  await assert.rejects(receive, AbortedError);
  await assert.rejects(send, AbortedError);
  await assert.rejects(rx.send(2), AbortedError);
  // a receiver that was not waiting sees the abort once, then done
  await assert.rejects(tx.next(), AbortedError);
  assert.equal((await tx.next()).done, true);
});

Deno.test("channel: an already aborted signal refuses everything", async () => {
  const ch = channel<number>({ capacity: 1, signal: AbortSignal.abort() });
  await assert.rejects(ch.send(1), AbortedError);
  await assert.rejects(ch.next(), AbortedError);
});

Deno.test("channel: several consumers share the values as a work queue", async () => {
  const ch = channel<number>({ capacity: 4 });
  const consume = async () => {
    const got: number[] = [];
    for await (const v of ch) {
      got.push(v);
      await turns(1);
    }
    return got;
  };
  const all = Promise.all([consume(), consume()]);
  for (let i = 0; i < 30; i++) await ch.send(i);
  ch.close();
  const [a, b] = await all;
  assert.deepEqual([...a!, ...b!].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i));
});

Deno.test("channel rejects bad options", () => {
  for (const capacity of [-1, 1.5, "2", undefined]) {
    assert.throws(() => channel({ capacity: capacity as number }), InvalidArgumentError);
  }
  assert.throws(() => channel(undefined as never), InvalidArgumentError);
  assert.throws(() => channel({ capacity: 1, signal: "x" as never }), InvalidArgumentError);
});
