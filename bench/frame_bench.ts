/**
 * Frame concat vs a single copy of the same bytes (`deno bench -A bench/frame_bench.ts`).
 * 512 Float64 frames of 64 KiB (32 MiB) per iteration.
 */
import { concat, Frame } from "../src/frame/mod.ts";

const CHUNK = 8192; // 64 KiB of float64
const COUNT = 512;
const src = new Float64Array(CHUNK * COUNT).map((_, i) => i);
const frames = Array.from(
  { length: COUNT },
  (_, i) => new Frame({ v: src.subarray(i * CHUNK, (i + 1) * CHUNK) }),
);
const plain = Array.from({ length: 64 }, (_, i) => new Frame({ s: Array(1024).fill(`row${i}`) }));

Deno.bench("single copy: TypedArray.set of 32 MiB into a fresh array", {
  group: "concat",
  baseline: true,
}, () => {
  const dst = new Float64Array(src.length);
  dst.set(src);
});

Deno.bench("concat 512 Float64 frames of 64 KiB (32 MiB)", { group: "concat" }, () => {
  concat(frames);
});

Deno.bench("concat 64 plain (string) frames of 1024 rows", () => {
  concat(plain);
});

Deno.bench("byteSize of a 1024-row string column (estimate)", () => {
  new Frame({ s: (plain[0] as Frame<{ s: string[] }>).columns.s }).byteSize;
});
