// Child of tests/native_memory_test.ts: the addon's own reserve() (no TypeScript guard) asked for
// more than can be allocated. It aborted the whole process; it must throw. Prints what it threw.
import { requireNative } from "../../src/native/load.ts";

const binding = requireNative();
const buf = new binding.NativeFrameBuffer(["x", "y"], ["Float64Array", "Int8Array"]);
buf.reserve(16);
const thrown: { rows: number; code?: string; message: string }[] = [];
for (const rows of [2 ** 50, 2 ** 53, 1e300]) {
  try {
    buf.reserve(rows);
    thrown.push({ rows, message: "no error" });
  } catch (error) {
    thrown.push({
      rows,
      code: (error as { code?: string }).code,
      message: (error as Error).message,
    });
  }
}
buf.append([new Float64Array([1.5]), new Int8Array([2])]);
const [x] = buf.take();
buf.close();
console.log(JSON.stringify({ thrown, after: x![0] }));
