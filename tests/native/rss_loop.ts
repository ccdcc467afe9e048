// Child of tests/native_memory_test.ts: many append/take cycles of 64 MiB; prints the peak RSS.
// Args: <implementation> <cycles> <gc|nogc>
import { createFrameBuffer } from "../../src/native/frame_buffer.ts";

const [impl = "native", cyclesArg = "40", gcMode = "gc"] = Deno.args;
const gc = (globalThis as { gc?: () => void }).gc;
const chunk = new Float64Array(1 << 17); // 1 MiB
chunk.fill(1);
using buf = createFrameBuffer({ x: "Float64Array" }, { implementation: impl as "native" | "ts" });
let peak = 0;
let checksum = 0;
for (let c = 0; c < Number(cyclesArg); c++) {
  for (let i = 0; i < 64; i++) buf.append({ x: impl === "ts" ? chunk.slice() : chunk });
  const { x } = buf.take();
  checksum += x[x.length - 1]!;
  if (gcMode === "gc") gc?.();
  await new Promise((r) => setTimeout(r, 0));
  peak = Math.max(peak, Deno.memoryUsage().rss);
}
console.log(JSON.stringify({ peakMiB: Math.round(peak / 2 ** 20), checksum }));
