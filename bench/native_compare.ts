/**
 * Side-by-side figures for the native hot path (prints Markdown tables of times and ratios).
 *
 *   npx -y deno@2.9.6 run -A bench/native_compare.ts [--quick]
 *
 * 1. FrameBuffer append + take, Float64 columns, 16 KiB / 64 KiB / 1 MiB chunks, 256 MiB total:
 *    native vs TS fallback vs Apache Arrow (tables from chunks, concat, contiguous column) vs one
 *    256 MiB `TypedArray.set` (the copy limit; into a fresh array, and into a warm one).
 * 2. 64 KiB messages Worker -> main: RingQueue vs postMessage + transfer (raw, and through
 *    workerPrefetch).
 *
 * Each figure is the median of several rounds, with an event-loop turn between rounds (as a real
 * program has), after one warm-up round.
 *
 * @module
 */

import * as arrow from "npm:apache-arrow@19";
import { createFrameBuffer } from "../src/native/frame_buffer.ts";
import { activeImplementation, nativeStatus } from "../src/native/load.ts";
import { RingQueue } from "../src/native/ring_queue.ts";
import { workerPrefetch } from "../src/native/worker_prefetch.ts";

const quick = Deno.args.includes("--quick");
const MiB = 1 << 20;
const TOTAL = (quick ? 64 : 256) * MiB;
const ROUNDS = quick ? 3 : 5;
const tick = () => new Promise((r) => setTimeout(r, 0));

async function median(fn: () => unknown | Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await tick();
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

const fmt = (ms: number) => ms.toFixed(1);
const gbps = (bytes: number, ms: number) => (bytes / ms / 1e6).toFixed(2);

console.log(`# native_compare (${new Date().toISOString()})`);
console.log(
  `deno ${Deno.version.deno}, ${Deno.build.target}, native: ${JSON.stringify(nativeStatus())}`,
);
if (activeImplementation() !== "native") {
  console.log("The native module is not loaded: build it with `deno task build:native`.");
  Deno.exit(1);
}

// ---- 1. FrameBuffer
console.log(`\n## FrameBuffer append + take, Float64, ${TOTAL / MiB} MiB total (ms, median)\n`);
console.log(
  "plain: the taken columns are dropped (freed whenever the GC runs); recycle: they are handed",
);
console.log("back with `recycle()` (their memory is reused by the next take).\n");
console.log(
  "| chunk | native | native + recycle | TS | TS + recycle | Arrow | copy limit fresh / warm | native ÷ TS | native+recycle ÷ TS+recycle | copy-fresh ÷ native | Arrow ÷ native | Arrow ÷ native+recycle |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
const source = new Float64Array(TOTAL / 8).fill(1);
const warm = new Float64Array(TOTAL / 8);
const copyFresh = await median(() => {
  const d = new Float64Array(TOTAL / 8);
  d.set(source);
  return d;
});
const copyWarm = await median(() => warm.set(source));
let sink = 0;
for (const chunkBytes of [16 * 1024, 64 * 1024, MiB]) {
  const len = chunkBytes / 8;
  const chunks = Array.from(
    { length: TOTAL / chunkBytes },
    (_, i) => new Float64Array(len).fill(i),
  );
  const cycle = (impl: "native" | "ts", recycle: boolean) => {
    const buf = createFrameBuffer({ x: "Float64Array" }, { implementation: impl });
    return () => {
      for (const c of chunks) buf.append({ x: c });
      const out = buf.take();
      sink += out.x[out.x.length - 1]!;
      if (recycle) buf.recycle(out);
    };
  };
  const tNative = await median(cycle("native", false));
  const tNativeR = await median(cycle("native", true));
  const tTs = await median(cycle("ts", false));
  const tTsR = await median(cycle("ts", true));
  const tArrow = await median(() => {
    const tables = chunks.map((c) => arrow.tableFromArrays({ x: c }));
    const table = tables[0]!.concat(...tables.slice(1));
    const column = table.getChild("x")!.toArray() as Float64Array;
    sink += column.length;
  });
  const r = (a: number, b: number) => (a / b).toFixed(2);
  console.log(
    `| ${chunkBytes / 1024} KiB | ${fmt(tNative)} | ${fmt(tNativeR)} | ${fmt(tTs)} | ${
      fmt(tTsR)
    } | ${fmt(tArrow)} | ${fmt(copyFresh)} / ${fmt(copyWarm)} | ${r(tNative, tTs)} | ${
      r(tNativeR, tTsR)
    } | ${r(copyFresh, tNative)} | ${r(tArrow, tNative)} | ${r(tArrow, tNativeR)} |`,
  );
}
console.log("\n(÷ columns are time ratios: native ÷ TS < 1 means native is faster.)");

// ---- 2. Worker -> main, 64 KiB messages
const SIZE = 64 * 1024;
const COUNT = TOTAL / SIZE;
console.log(`\n## Worker → main, ${COUNT} messages of 64 KiB (${TOTAL / MiB} MiB)\n`);
console.log("| transport | ms | messages/s | GB/s | vs postMessage + transfer |");
console.log("|---|---|---|---|---|");

async function oneWorker(
  mode: "postMessage" | "ring" | "ring-fresh",
  copy = true,
): Promise<number> {
  const w = new Worker(new URL("./native_ring_worker.ts", import.meta.url), { type: "module" });
  const q = mode === "postMessage" ? undefined : RingQueue.create(64);
  try {
    await new Promise((resolve) => {
      w.onmessage = resolve;
      w.postMessage({ mode: "ready", id: q?.id ?? 0 });
    });
    const t0 = performance.now();
    let n = 0;
    let bytes = 0;
    if (q) {
      w.postMessage({ mode, count: COUNT, size: SIZE, id: q.id });
      for await (const batch of q.batches(64, { copy })) {
        for (const m of batch) bytes += m[0]! + m.length;
        n += batch.length;
      }
    } else {
      await new Promise<void>((resolve) => {
        w.onmessage = (e: MessageEvent<Uint8Array>) => {
          bytes += e.data[0]! + e.data.length;
          if (++n === COUNT) resolve();
        };
        w.postMessage({ mode, count: COUNT, size: SIZE });
      });
    }
    const ms = performance.now() - t0;
    if (n !== COUNT) throw new Error(`received ${n} of ${COUNT}`);
    sink += bytes;
    return ms;
  } finally {
    w.terminate();
    q?.release();
  }
}

async function prefetched(transport: "ring" | "postMessage", reuse = false): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for await (
    const m of workerPrefetch(new URL("./native_producer.ts", import.meta.url), {
      transport,
      size: 64,
      args: { count: COUNT, size: SIZE, reuse },
    })
  ) {
    sink += m[0]!;
    n++;
  }
  if (n !== COUNT) throw new Error(`received ${n} of ${COUNT}`);
  return performance.now() - t0;
}

const rows: [string, number][] = [];
const base = await median(() => oneWorker("postMessage"));
rows.push(["postMessage + transfer (fresh buffer per message)", base]);
rows.push(["RingQueue (producer reuses one buffer)", await median(() => oneWorker("ring"))]);
rows.push(["RingQueue (fresh buffer per message)", await median(() => oneWorker("ring-fresh"))]);
rows.push([
  "RingQueue, zero-copy pop (external buffers, producer reuses one buffer)",
  await median(() => oneWorker("ring", false)),
]);
const pfPost = await median(() => prefetched("postMessage"));
rows.push(["workerPrefetch, postMessage transport (startup included)", pfPost]);
rows.push([
  "workerPrefetch, ring transport (startup included)",
  await median(() => prefetched("ring")),
]);
rows.push([
  "workerPrefetch, ring transport, producer reuses one buffer (startup included)",
  await median(() => prefetched("ring", true)),
]);
for (const [name, ms] of rows) {
  const ref = name.startsWith("workerPrefetch") ? pfPost : base;
  console.log(
    `| ${name} | ${fmt(ms)} | ${Math.round(COUNT / ms * 1000)} | ${gbps(TOTAL, ms)} | ${
      (ref / ms).toFixed(2)
    }× |`,
  );
}
console.log(`\n(sink ${sink > 0})`);
