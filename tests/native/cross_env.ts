// Child of tests/native_memory_test.ts. A Worker takes native columns and frees them; then the
// main thread takes one. A first version credited the Worker's freed bytes to the main env's
// external-memory total, which went negative: a V8 fatal check that killed the process.
import { createFrameBuffer } from "../../src/native/frame_buffer.ts";

const gc = (globalThis as { gc?: () => void }).gc!;
const worker = new Worker(
  "data:application/javascript," + encodeURIComponent(`
    import { createFrameBuffer } from ${
    JSON.stringify(new URL("../../src/native/frame_buffer.ts", import.meta.url).href)
  };
    const buf = createFrameBuffer({ x: "Float64Array" }, { implementation: "native" });
    for (let i = 0; i < 8; i++) {
      buf.append({ x: new Float64Array(1 << 21) }); // 16 MiB
      buf.take();
      globalThis.gc();
    }
    buf.close();
    postMessage("done");`),
  { type: "module" },
);
await new Promise((resolve) => (worker.onmessage = resolve));
worker.terminate();
gc();
const buf = createFrameBuffer({ x: "Float64Array" }, { implementation: "native" });
for (let i = 0; i < 4; i++) {
  buf.append({ x: new Float64Array(16) });
  buf.take();
  gc();
}
console.log("survived");
