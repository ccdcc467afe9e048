import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder } from "./wire_frames.ts";

Deno.test("wire frames survive any split of the byte stream", () => {
  const bodies = [new Uint8Array(0), new Uint8Array([1, 2, 3]), new Uint8Array(70_000).fill(9)];
  const stream = new Uint8Array(bodies.reduce((n, b) => n + 4 + b.length, 0));
  let off = 0;
  for (const b of bodies) {
    stream.set(encodeFrame(b), off);
    off += 4 + b.length;
  }
  for (const step of [1, 2, 3, 5, 4096, stream.length]) {
    const d = new FrameDecoder();
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += step) got.push(...d.push(stream.subarray(i, i + step)));
    assert.deepEqual(got.map((b) => [...b.slice(0, 3)]), bodies.map((b) => [...b.slice(0, 3)]));
    assert.deepEqual(got.map((b) => b.length), bodies.map((b) => b.length));
  }
});
