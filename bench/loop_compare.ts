/**
 * StatefulLoop benchmarks, as ratios within one run:
 *
 * 1. loop overhead per item (bound state, no buffer) vs a bare `for await` over the same array;
 * 2. buffer + flush throughput of Float64 frames (64 KiB chunks, 256 MiB in total) in GB/s next
 *    to the single-copy bandwidth (`TypedArray.set` of 256 MiB) measured in the same run;
 * 3. the same workload in spool and in Python oups (sum state + buffer + concat of N numeric
 *    frames), when `bench/.venv-oups` exists (see docs/bench-loop.md for how to create it).
 *
 * Run: `npx -y deno@2.9.6 run -A bench/loop_compare.ts` (add `--quick` for a smoke run).
 */
import { fileURLToPath } from "node:url";
import { Frame } from "../src/frame/mod.ts";
import { StatefulLoop, type StatefulLoopOptions } from "../src/loop/mod.ts";

const QUICK = Deno.args.includes("--quick");
const MiB = 1024 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function withLoop<T>(
  options: StatefulLoopOptions,
  fn: (loop: StatefulLoop) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "spool-bench-loop-" });
  try {
    await using loop = await StatefulLoop.open(dir, options);
    return await fn(loop);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---- 1. overhead per item ----

async function overhead(): Promise<Record<string, number>> {
  const n = QUICK ? 100_000 : 1_000_000;
  const items = Array.from({ length: n }, (_, i) => i);
  const bare: number[] = [];
  const looped: number[] = [];
  const loopedCk: number[] = [];
  const steps: number[] = [];
  const asyncBare: number[] = [];
  const asyncLooped: number[] = [];
  async function* gen() {
    for (let i = 0; i < n; i++) yield i;
  }
  for (let rep = 0; rep < 5; rep++) {
    let t = performance.now();
    let sum = 0;
    for await (const x of items) sum += x;
    bare.push((performance.now() - t) * 1e6 / n);

    const s1 = await withLoop({ checkpoint: { everyMs: false, atEnd: false } }, async (loop) => {
      const st = loop.state("sum", { sum: 0 });
      t = performance.now();
      for await (const item of loop.items(items)) st.sum += item;
      looped.push((performance.now() - t) * 1e6 / n);
      return st.sum;
    });
    // default checkpoint triggers (every 5 s, at end): includes one final checkpoint
    await withLoop({}, async (loop) => {
      const st = loop.state("sum", { sum: 0 });
      t = performance.now();
      for await (const item of loop.items(items)) st.sum += item;
      loopedCk.push((performance.now() - t) * 1e6 / n);
    });
    // iterate(): step objects ({ final, item, index })
    await withLoop({ checkpoint: { everyMs: false, atEnd: false } }, async (loop) => {
      const st = loop.state("sum", { sum: 0 });
      t = performance.now();
      for await (const { item, final } of loop.iterate(items)) if (!final) st.sum += item;
      steps.push((performance.now() - t) * 1e6 / n);
    });

    t = performance.now();
    let sum2 = 0;
    for await (const x of gen()) sum2 += x;
    asyncBare.push((performance.now() - t) * 1e6 / n);
    await withLoop({ checkpoint: { everyMs: false, atEnd: false } }, async (loop) => {
      const st = loop.state("sum", { sum: 0 });
      t = performance.now();
      for await (const item of loop.items(gen())) st.sum += item;
      asyncLooped.push((performance.now() - t) * 1e6 / n);
    });
    if (s1 !== sum || sum2 !== sum) throw new Error("sums differ");
  }
  return {
    n,
    bareNs: median(bare),
    loopNs: median(looped),
    loopDefaultNs: median(loopedCk),
    stepsNs: median(steps),
    asyncBareNs: median(asyncBare),
    asyncLoopNs: median(asyncLooped),
  };
}

// ---- 2. buffer + flush throughput ----

async function throughput(): Promise<Record<string, number>> {
  const total = (QUICK ? 64 : 256) * MiB;
  const chunkBytes = 64 * 1024;
  const chunkLen = chunkBytes / 8;
  const count = total / chunkBytes;
  const src = new Float64Array(total / 8);
  for (let i = 0; i < src.length; i += 512) src[i] = i;
  const frames = Array.from(
    { length: count },
    (_, i) => new Frame({ v: src.subarray(i * chunkLen, (i + 1) * chunkLen) }),
  );
  const limitMb = 32;
  const fresh: number[] = [];
  const warm: number[] = [];
  const buf: number[] = [];
  const bufCk: number[] = [];
  const dstWarm = new Float64Array(src.length);
  dstWarm.set(src);
  for (let rep = 0; rep < 3; rep++) {
    let t = performance.now();
    const dst = new Float64Array(src.length);
    dst.set(src);
    fresh.push(total / ((performance.now() - t) / 1e3) / 1e9);
    if (dst[512] !== 512) throw new Error("copy");
    t = performance.now();
    dstWarm.set(src);
    warm.push(total / ((performance.now() - t) / 1e3) / 1e9);

    for (
      const [opts, out] of [
        [{ checkpoint: { everyMs: false, afterFlush: false, atEnd: false } }, buf],
        [{ checkpoint: { everyMs: false, afterFlush: true, atEnd: false } }, bufCk],
      ] as const
    ) {
      await withLoop(opts, async (loop) => {
        let rows = 0;
        t = performance.now();
        for await (const step of loop.iterate(frames)) {
          const f = loop.buffer("v", step.final ? undefined : { v: step.item }, {
            memoryLimitMb: limitMb,
          });
          if (f) rows += f.frames.v.length;
        }
        out.push(total / ((performance.now() - t) / 1e3) / 1e9);
        if (rows !== src.length) throw new Error(`rows ${rows}`);
      });
    }
  }
  return {
    totalMiB: total / MiB,
    limitMb,
    bufferGBs: median(buf),
    bufferCheckpointGBs: median(bufCk),
    copyFreshGBs: median(fresh),
    copyWarmGBs: median(warm),
  };
}

// ---- 3. spool vs oups on the same workload ----

const OUPS_SCRIPT = `
import json, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
from oups.stateful_loop import StatefulLoop

n_frames, rows, limit_mb = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
frames = [pd.DataFrame({"value": np.arange(i * rows, (i + 1) * rows, dtype=np.float64)}) for i in range(n_frames)]

def add(df, agg):
    agg["sum"] += float(df["value"].sum())

best = None
for rep in range(3):
    with tempfile.TemporaryDirectory() as tmp:
        loop = StatefulLoop(Path(tmp) / "loop.pkl")
        agg = {"sum": 0.0}
        add_fn = loop.bind_function_state(add, state={"agg": agg})
        flushed_rows, flushes = 0, 0
        t = time.perf_counter()
        for ctx in loop.iterate(frames, check_loop_usage=False):
            with ctx as df:
                add_fn(df)
                out = loop.buffer({"main": df}, memory_limit_mb=limit_mb)
                flushed_rows += len(out["main"])
                flushes += 1
        dt = time.perf_counter() - t
    if best is None or dt < best["seconds"]:
        best = {"seconds": dt, "sum": agg["sum"], "rows": flushed_rows, "flushes": flushes}
print(json.dumps(best))
`;

async function versusOups(): Promise<Record<string, number | string> | undefined> {
  const py = fileURLToPath(new URL("./.venv-oups/bin/python", import.meta.url));
  try {
    Deno.statSync(py);
  } catch {
    return undefined;
  }
  const nFrames = QUICK ? 2_000 : 20_000;
  const rows = 512; // 4 KiB of float64 per frame
  const limitMb = 4;
  const script = await Deno.makeTempFile({ suffix: ".py" });
  await Deno.writeTextFile(script, OUPS_SCRIPT);
  const out = await new Deno.Command(py, {
    args: [script, String(nFrames), String(rows), String(limitMb)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(script);
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  const oups = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    seconds: number;
    sum: number;
    rows: number;
    flushes: number;
  };

  const frames = Array.from({ length: nFrames }, (_, i) => {
    const v = new Float64Array(rows);
    for (let r = 0; r < rows; r++) v[r] = i * rows + r;
    return new Frame({ value: v });
  });
  let best: { seconds: number; sum: number; rows: number; flushes: number } | undefined;
  for (let rep = 0; rep < 3; rep++) {
    const r = await withLoop({}, async (loop) => {
      function add(df: Frame<{ value: Float64Array }>, agg: { sum: number }) {
        let s = 0;
        for (const v of df.columns.value) s += v;
        agg.sum += s;
      }
      const agg = { sum: 0 };
      const addFn = loop.bindFunctionState(add, { state: { agg } });
      let flushedRows = 0;
      let flushes = 0;
      const t = performance.now();
      for await (const step of loop.iterate(frames)) {
        if (!step.final) addFn(step.item);
        const f = loop.buffer("main", step.final ? undefined : { main: step.item }, {
          memoryLimitMb: limitMb,
        });
        if (f) {
          flushedRows += f.frames.main.length;
          flushes++;
        }
      }
      return { seconds: (performance.now() - t) / 1e3, sum: agg.sum, rows: flushedRows, flushes };
    });
    if (!best || r.seconds < best.seconds) best = r;
  }
  if (!best || best.sum !== oups.sum || best.rows !== oups.rows) {
    throw new Error(`results differ: spool ${JSON.stringify(best)} oups ${JSON.stringify(oups)}`);
  }
  return {
    frames: nFrames,
    rows,
    limitMb,
    spoolMs: best.seconds * 1e3,
    oupsMs: oups.seconds * 1e3,
    spoolFlushes: best.flushes,
    oupsFlushes: oups.flushes,
  };
}

if (import.meta.main) {
  const o = await overhead();
  console.log(`\n## Loop overhead per item (${o.n} items, median of 5)\n`);
  console.log("| case | ns/item | ratio vs bare |\n|---|---:|---:|");
  const row = (name: string, ns: number, base: number) =>
    console.log(`| ${name} | ${ns.toFixed(1)} | ${(ns / base).toFixed(2)}x |`);
  row("bare `for await` over an array", o.bareNs!, o.bareNs!);
  row("loop.items + state, array, no checkpoint", o.loopNs!, o.bareNs!);
  row("loop.items + state, array, default checkpoints", o.loopDefaultNs!, o.bareNs!);
  row("loop.iterate (step objects) + state, array, no checkpoint", o.stepsNs!, o.bareNs!);
  row("bare `for await` over an async generator", o.asyncBareNs!, o.asyncBareNs!);
  row("loop.items + state, async generator", o.asyncLoopNs!, o.asyncBareNs!);

  const t = await throughput();
  console.log(
    `\n## Buffer + flush, Float64 frames of 64 KiB, ${t.totalMiB} MiB, limit ${t.limitMb} MiB (median of 3)\n`,
  );
  console.log("| case | GB/s | ratio vs single copy (fresh) |\n|---|---:|---:|");
  const g = (name: string, v: number) =>
    console.log(`| ${name} | ${v.toFixed(2)} | ${(v / t.copyFreshGBs!).toFixed(2)} |`);
  g("single copy, `TypedArray.set` into a fresh array", t.copyFreshGBs!);
  g("single copy, `TypedArray.set` into a warm array", t.copyWarmGBs!);
  g("loop.buffer + flush (concat), no checkpoint", t.bufferGBs!);
  g("loop.buffer + flush, checkpoint after each flush", t.bufferCheckpointGBs!);

  const v = await versusOups();
  if (v) {
    console.log(
      `\n## spool vs Python oups: ${v.frames} frames x ${v.rows} float64 rows, sum state + buffer ` +
        `(${v.limitMb} MiB) + concat (best of 3)\n`,
    );
    console.log("| implementation | ms | flushes | speed-up |\n|---|---:|---:|---:|");
    console.log(
      `| oups StatefulLoop (pandas) | ${
        (v.oupsMs as number).toFixed(1)
      } | ${v.oupsFlushes} | 1.00x |`,
    );
    console.log(
      `| spool StatefulLoop | ${(v.spoolMs as number).toFixed(1)} | ${v.spoolFlushes} | ${
        ((v.oupsMs as number) / (v.spoolMs as number)).toFixed(2)
      }x |`,
    );
  } else {
    console.log("\n(oups comparison skipped: bench/.venv-oups not found)");
  }
}
