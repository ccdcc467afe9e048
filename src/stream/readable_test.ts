import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { fromReadable, toReadable } from "./readable.ts";
import { collect, endless, tracked } from "../../tests/stream_helpers.ts";

Deno.test("fromReadable iterates chunks; break cancels the stream and releases the lock", async () => {
  let cancelled: unknown = "no";
  let i = 0;
  const stream = new ReadableStream<number>({
    pull(c) {
      c.enqueue(i++);
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const got: number[] = [];
  for await (const x of fromReadable(stream)) {
    got.push(x);
    if (got.length === 3) break;
  }
  assert.deepEqual(got, [0, 1, 2]);
  assert.equal(cancelled, undefined, "cancel ran");
  assert.equal(stream.locked, false);
});

Deno.test("fromReadable: a stream error reaches the consumer; locked streams are refused", async () => {
  const boom = new Error("boom");
  const stream = new ReadableStream<number>({
    start(c) {
      c.enqueue(1);
      c.error(boom);
    },
  });
  await assert.rejects(collect(fromReadable(stream)), (e) => e === boom);
  const locked = new ReadableStream();
  const reader = locked.getReader();
  assert.throws(() => fromReadable(locked), InvalidArgumentError);
  reader.releaseLock();
  assert.throws(() => fromReadable([1] as never), InvalidArgumentError);
});

Deno.test("toReadable pulls on demand; cancel returns the source", async () => {
  const [src, track] = endless();
  const stream = toReadable(src);
  const reader = stream.getReader();
  assert.equal((await reader.read()).value, 0);
  assert.equal((await reader.read()).value, 1);
  assert.ok(track.pulled <= 3, `pulled ${track.pulled}`);
  await reader.cancel();
  assert.equal(track.returned, true);
});

Deno.test("toReadable: source error errors the stream; round trip with fromReadable", async () => {
  const [bad] = tracked(5, { failAt: 2 });
  await assert.rejects(collect(fromReadable(toReadable(bad))), /boom/);
  assert.deepEqual(await collect(fromReadable(toReadable([1, 2, 3]))), [1, 2, 3]);
  const text = await new Response(
    toReadable(["a", "b"]).pipeThrough(new TextEncoderStream()),
  ).text();
  assert.equal(text, "ab");
  assert.throws(() => toReadable([1], { highWaterMark: -1 }), InvalidArgumentError);
});
