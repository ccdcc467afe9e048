import assert from "node:assert/strict";
import { InternalError } from "../errors.ts";
import { OrderedWindow } from "./ordered_window.ts";

Deno.test("ordered window: stored out of order, released in order", () => {
  const w = new OrderedWindow<string>(5);
  w.put(2, "c", 1);
  w.put(0, "a", 1);
  assert.equal(w.headTag(), 1);
  assert.equal(w.take(), "a");
  assert.equal(w.headTag(), 0); // 1 has not arrived: 2 waits
  w.put(1, "b", 2);
  assert.equal(w.headTag(), 2);
  assert.equal(w.take(), "b");
  assert.equal(w.take(), "c");
  assert.equal(w.next, 3);
});

Deno.test("ordered window: slots wrap around as the window moves", () => {
  const w = new OrderedWindow<number>(3);
  const out: number[] = [];
  for (let i = 0; i < 100; i += 3) {
    for (const k of [2, 0, 1]) if (i + k < 100) w.put(i + k, i + k, 1);
    while (w.headTag() !== 0) out.push(w.take());
  }
  assert.deepEqual(out, Array.from({ length: 100 }, (_, i) => i));
});

Deno.test("ordered window: storing outside the bound or twice is an internal error", () => {
  const w = new OrderedWindow<number>(3, 10);
  assert.throws(() => w.put(13, 0, 1), InternalError);
  assert.throws(() => w.put(9, 0, 1), InternalError);
  w.put(12, 0, 1);
  assert.throws(() => w.put(12, 0, 1), InternalError);
  w.clear();
  assert.equal(w.tagAt(12), 0);
});

Deno.test("ordered window: slotOf and seqAt map between sequence numbers and slots", () => {
  const w = new OrderedWindow<number>(5, 7);
  assert.equal(w.slots, 8);
  for (let seq = 7; seq < 7 + 8; seq++) assert.equal(w.seqAt(w.slotOf(seq)), seq);
  for (let i = 0; i < 11; i++) {
    w.put(w.next, i, 1);
    w.take();
  }
  assert.equal(w.next, 18);
  for (let seq = 18; seq < 18 + 8; seq++) assert.equal(w.seqAt(w.slotOf(seq)), seq);
  assert.equal(new OrderedWindow<number>(2).slots, 4, "at least 4 slots");
  assert.equal(new OrderedWindow<number>(8).slots, 8, "a power of two stays");
});
