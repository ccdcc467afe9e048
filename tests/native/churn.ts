// Used by the modules tests/native_memory_test.ts writes for a child `deno test` (each module is a
// new isolate; `deno test` runs them one after another on a pool of threads). Native columns are
// taken, recycled, dropped and kept alive until the isolate goes away, with forced GCs.
import { createFrameBuffer } from "../../src/native/frame_buffer.ts";

const gc = (globalThis as { gc?: () => void }).gc!;

/** Take columns of `mib` MiB (or, when 0, of 16..4096 bytes) `cycles` times. */
export function churn(mib: number, cycles: number): void {
  const buf = createFrameBuffer({ x: "Float64Array", y: "Int8Array" }, {
    implementation: "native",
  });
  const kept: unknown[] = [];
  for (let i = 0; i < cycles; i++) {
    const rows = mib > 0 ? (mib << 20) / 8 : 2 + ((i * 97) % 512);
    buf.append({ x: new Float64Array(rows).fill(i), y: new Int8Array(rows) });
    const taken = buf.take();
    if (taken.x[rows - 1] !== i) {
      throw new Error(`cycle ${i}: wrong last value ${taken.x[rows - 1]}`);
    }
    if (i % 3 === 0) buf.recycle(taken); // freed at once
    else if (i % 3 === 1) kept.push(taken); // freed when the isolate goes away
    // else dropped: freed by a GC
    if (i % 2 === 0) gc();
  }
  buf.close();
  (globalThis as { kept?: unknown }).kept = kept;
}
