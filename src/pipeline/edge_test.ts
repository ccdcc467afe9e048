import assert from "node:assert/strict";
import { Cancelled, Edge, ITEM, type Message } from "./edge.ts";

const item = (value: number): Message => ({ kind: ITEM, value });
/** Let every queued promise reaction run. */
const settle = () => new Promise<void>((r) => setTimeout(r, 0));

Deno.test("Edge: a producer blocked on a full edge is woken at half capacity, then refills", async () => {
  const e = new Edge("a->b", 4);
  for (let i = 0; i < 4; i++) assert.equal(e.tryPush(item(i)), true);
  assert.equal(e.tryPush(item(4)), false);
  let pushed = false;
  const p = e.push(item(4)).then(() => (pushed = true));
  await settle();
  assert.equal(pushed, false);
  assert.deepEqual(e.tryPull(), item(0));
  await settle();
  assert.equal(pushed, false, "3 of 4 queued: not woken yet");
  assert.deepEqual(e.tryPull(), item(1));
  await p;
  assert.equal(pushed, true, "2 of 4 queued: woken");
  const got: unknown[] = [];
  for (let m = e.tryPull(); m !== undefined; m = e.tryPull()) {
    got.push((m as { value: unknown }).value);
  }
  assert.deepEqual(got, [2, 3, 4]);
});

Deno.test("Edge: capacity 1 wakes the producer once empty", async () => {
  const e = new Edge("a->b", 1);
  assert.equal(e.tryPush(item(0)), true);
  const p = e.push(item(1));
  assert.deepEqual(e.tryPull(), item(0));
  await p;
  assert.deepEqual(e.tryPull(), item(1));
});

Deno.test("Edge: fail wakes a blocked producer with Cancelled", async () => {
  const e = new Edge("a->b", 2);
  e.tryPush(item(0));
  e.tryPush(item(1));
  const p = e.push(item(2));
  e.fail(new Error("boom"));
  await assert.rejects(p, Cancelled);
});
