import assert from "node:assert/strict";
import { BARRIER, Edge, END, HOLE, HOLE_MESSAGE, ITEM, type Message } from "./edge.ts";
import { InputReader } from "./input_reader.ts";
import type { PipelineEvent } from "./run_types.ts";

const item = (value: unknown): Message => ({ kind: ITEM, value });
const barrier = (checkpoint: number): Message => ({ kind: BARRIER, checkpoint });
const end = (flush = true): Message => ({ kind: END, flush });

/** A reader over `n` fresh edges, with the events and zip-hole calls it reports. */
function reader(n: number) {
  const edges = Array.from({ length: n }, (_, i) => new Edge(`in${i}->z`, 64));
  const events: PipelineEvent[] = [];
  const holes: { heads: (Message | undefined)[]; offset: number }[] = [];
  const r = new InputReader(
    (e) => events.push(e),
    "z",
    edges,
    undefined,
    (heads, offset) => holes.push({ heads, offset }),
  );
  const feed = (i: number, ...ms: Message[]) => {
    for (const m of ms) assert.ok(edges[i]!.tryPush(m));
  };
  return { r, edges, events, holes, feed };
}

/** Every message the reader gives without waiting. */
function drain(r: InputReader): Message[] {
  const out: Message[] = [];
  for (let m = r.poll(); m !== undefined; m = r.poll()) {
    out.push(m);
    if (m.kind === END) break;
  }
  return out;
}

Deno.test("InputReader: one input passes its messages through unchanged", () => {
  const { r, feed } = reader(1);
  feed(0, item("a"), HOLE_MESSAGE, barrier(1), end());
  assert.deepEqual(drain(r), [item("a"), HOLE_MESSAGE, barrier(1), end()]);
});

Deno.test("InputReader: several inputs are zipped in declared order into an args array", () => {
  const { r, feed } = reader(2);
  feed(0, item(1), item(2));
  feed(1, item("a"));
  assert.deepEqual(drain(r), [item([1, "a"])], "the second tuple waits for its partner");
  feed(1, item("b"));
  assert.deepEqual(drain(r), [item([2, "b"])]);
});

Deno.test("InputReader: a barrier passes once every open input delivered it", () => {
  const { r, feed } = reader(2);
  feed(0, item(1), barrier(7), item(2));
  feed(1, item("a"));
  // Input 0 is blocked at its barrier: its item after the barrier is not read yet.
  assert.deepEqual(drain(r), [item([1, "a"])]);
  feed(1, barrier(7), item("b"));
  assert.deepEqual(drain(r), [barrier(7), item([2, "b"])]);
});

Deno.test("InputReader: an ended input does not hold a barrier back", () => {
  const { r, feed } = reader(2);
  feed(0, end(false));
  feed(1, barrier(3));
  assert.deepEqual(drain(r), [barrier(3)]);
});

Deno.test("InputReader: a tuple with a hole is a hole, and its good items are reported", () => {
  const { r, feed, holes } = reader(2);
  feed(0, item(1), HOLE_MESSAGE);
  feed(1, HOLE_MESSAGE, HOLE_MESSAGE);
  assert.deepEqual(drain(r), [HOLE_MESSAGE, HOLE_MESSAGE]);
  // Only the tuple with a good item is reported (an all-hole tuple has nothing to lose).
  assert.deepEqual(holes, [{ heads: [item(1), HOLE_MESSAGE], offset: 0 }]);
});

Deno.test("InputReader: the end comes once every input ended; flush only if all flushed", () => {
  const a = reader(2);
  a.feed(0, end(true));
  assert.deepEqual(drain(a.r), [], "one input still open");
  a.feed(1, end(true));
  assert.deepEqual(drain(a.r), [end(true)]);
  const b = reader(2);
  b.feed(0, end(true));
  b.feed(1, end(false));
  assert.deepEqual(drain(b.r), [end(false)]);
});

Deno.test("InputReader: zip leftovers at a flushed end are logged and dead-lettered in order", () => {
  const { r, feed, events, holes } = reader(2);
  feed(0, item(1), item(2), item(3), end());
  feed(1, item("a"), end());
  assert.deepEqual(drain(r), [item([1, "a"]), end(true)]);
  assert.deepEqual(events, [{ type: "zip-leftover", node: "z", items: 2 }]);
  // Each unzipped tuple, with `undefined` for the input that had ended, and its offset.
  assert.deepEqual(holes, [
    { heads: [item(2), undefined], offset: 0 },
    { heads: [item(3), undefined], offset: 1 },
  ]);
  assert.deepEqual(r.queued, [[], []], "the leftovers are not kept");
});

Deno.test("InputReader: zip leftovers at a stop are logged but kept for the checkpoint", () => {
  const { r, feed, events, holes } = reader(2);
  feed(0, item(1), item(2), end(false));
  feed(1, item("a"), end(false));
  assert.deepEqual(drain(r), [item([1, "a"]), end(false)]);
  assert.deepEqual(events, [{ type: "zip-leftover", node: "z", items: 1 }]);
  assert.deepEqual(holes, []);
  assert.deepEqual(r.snapshot(), [[[0, 2]], []]);
});

Deno.test("InputReader: a snapshot restores the queued items and holes", () => {
  const edges = [new Edge("a->z", 4), new Edge("b->z", 4)];
  const r = new InputReader(() => {}, "z", edges, [[[0, 5], [1]], []]);
  assert.deepEqual(r.snapshot(), [[[0, 5], [1]], []]);
  edges[1]!.tryPush(item("x"));
  edges[1]!.tryPush(item("y"));
  assert.deepEqual(drain(r), [item([5, "x"]), { kind: HOLE }]);
  assert.equal(new InputReader(() => {}, "one", [edges[0]!]).snapshot(), undefined);
});

Deno.test("InputReader: next() waits for the input that is behind", async () => {
  const { r, feed } = reader(2);
  feed(0, item(1));
  const next = r.next();
  setTimeout(() => feed(1, item("a")), 5);
  assert.deepEqual(await next, item([1, "a"]));
});
