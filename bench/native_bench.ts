// `deno bench -A bench/native_bench.ts`: FrameBuffer append + take of 64 MiB in 64 KiB Float64
// chunks, native vs the TypeScript fallback, with and without recycle(). The side-by-side
// script with Arrow, the copy limit and the Worker transports is bench/native_compare.ts.
import { createFrameBuffer, type FrameBufferImplementation } from "../src/native/frame_buffer.ts";
import { activeImplementation } from "../src/native/load.ts";

const TOTAL = 64 << 20;
const chunks = Array.from({ length: TOTAL / 65536 }, (_, i) => new Float64Array(8192).fill(i));
const native = activeImplementation() === "native";
let sink = 0;

function cycle(impl: Exclude<FrameBufferImplementation, "auto">, recycle: boolean) {
  const buf = createFrameBuffer({ x: "Float64Array" }, { implementation: impl });
  return () => {
    for (const c of chunks) buf.append({ x: c });
    const out = buf.take();
    sink += out.x[out.x.length - 1]!;
    if (recycle) buf.recycle(out);
  };
}

Deno.bench({
  name: "TS fallback: append + take",
  group: "framebuffer",
  baseline: true,
  fn: cycle("ts", false),
});
Deno.bench({
  name: "native: append + take",
  group: "framebuffer",
  ignore: !native,
  fn: native ? cycle("native", false) : () => {},
});
Deno.bench({
  name: "TS fallback: append + take + recycle",
  group: "framebuffer-recycle",
  baseline: true,
  fn: cycle("ts", true),
});
Deno.bench({
  name: "native: append + take + recycle",
  group: "framebuffer-recycle",
  ignore: !native,
  fn: native ? cycle("native", true) : () => {},
});

addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
