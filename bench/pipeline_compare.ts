/**
 * Pipeline benchmarks (prints tables of medians and ratios).
 *
 *   npx -y deno@2.9.6 run -A bench/pipeline_compare.ts [--items 100000] [--runs 5] [--iters 2000]
 *     [--state-mib 64] [--seconds 6] [--cp-runs 3]
 *
 * 1. Overhead: a 3-node pipeline (pool node -> function node -> stateful fold) vs the same work
 *    hand-composed as `for await (const r of pool.map(source)) fold(transform(r))` on the same
 *    WorkerPool. Runs alternate; medians of `runs` after a warm-up.
 * 2. Checkpoint cost: a pipeline whose stateful node holds `state-mib` MiB of Float64Array state,
 *    run for about `seconds` with and without `checkpointEvery: {ms: 1000}` (store in a temp dir);
 *    throughput ratio.
 */

import process from "node:process";
import { WorkerPool } from "../src/pool/mod.ts";
import { Pipeline, type PipelineEvent } from "../src/pipeline/mod.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}
const N = arg("items", 100_000);
const RUNS = arg("runs", 5);
const ITERS = arg("iters", 2000);
const STATE_MIB = arg("state-mib", 64);
const SECONDS = arg("seconds", 6);
const CP_RUNS = arg("cp-runs", 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const transform = (x: number) => (x >>> 3) ^ 0x5bd1e995;

await using pool = await WorkerPool.start<{
  init: (a: { iters: number }) => { iters: number };
  process: (s: { iters: number }, x: number) => number;
}>({
  module: new URL("./pipeline_worker.ts", import.meta.url),
  size: 2,
  init: { iters: ITERS },
});

let cpuUs = 0;
function cpuSince(c0: { user: number; system: number }): void {
  const c = process.cpuUsage(c0);
  cpuUs = c.user + c.system;
}

async function hand(): Promise<number> {
  const st = { acc: 0 };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for await (const r of pool.map(range(N))) {
    st.acc = (st.acc * 31 + transform(r)) | 0;
  }
  const ms = performance.now() - t0;
  cpuSince(c0);
  if (st.acc === 42) console.log("");
  return ms;
}

async function piped(): Promise<number> {
  const p = new Pipeline();
  p.source("s");
  p.node("work", { inputs: ["s"], pool });
  p.node("transform", { inputs: ["work"], fn: transform });
  p.node("fold", {
    inputs: ["transform"],
    state: { acc: 0 },
    fn: (st: { acc: number }, y: number) => {
      st.acc = (st.acc * 31 + y) | 0;
    },
  });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await p.runToCompletion({ s: range(N) }, { sinks: { fold: () => {} } });
  const ms = performance.now() - t0;
  cpuSince(c0);
  return ms;
}

await hand();
await piped();
const h: number[] = [];
const q: number[] = [];
const hc: number[] = [];
const qc: number[] = [];
for (let i = 0; i < RUNS; i++) {
  h.push(await hand());
  hc.push(cpuUs);
  q.push(await piped());
  qc.push(cpuUs);
}
const hm = median(h);
const pm = median(q);
console.log(`## Overhead (${N} items, ${ITERS} iters/item, pool of 2, median of ${RUNS})`);
console.log("| variant | ms | items/s | ratio | CPU ms (all threads) | CPU ratio |");
console.log("|---|---:|---:|---:|---:|---:|");
const hcm = median(hc) / 1000;
const qcm = median(qc) / 1000;
console.log(
  `| hand-composed pool.map + fold | ${hm.toFixed(0)} | ${(N / hm * 1000).toFixed(0)} | 1.00 | ${
    hcm.toFixed(0)
  } | 1.00 |`,
);
console.log(
  `| Pipeline (pool -> fn -> stateful) | ${pm.toFixed(0)} | ${(N / pm * 1000).toFixed(0)} | ${
    (pm / hm).toFixed(3)
  } | ${qcm.toFixed(0)} | ${(qcm / hcm).toFixed(3)} |`,
);

// ---- checkpoint cost ----
const LEN = (STATE_MIB * 1024 * 1024) / 8;

async function stateful(
  store: string | undefined,
): Promise<{ rate: number; cps: number; cpMs: number[]; cpuUsPerItem: number }> {
  const p = new Pipeline();
  p.source("s");
  p.node("work", { inputs: ["s"], pool });
  p.node("acc", {
    inputs: ["work"],
    state: new Float64Array(LEN),
    fn: (st: Float64Array, y: number) => {
      st[(y >>> 0) % LEN]! += 1;
    },
  });
  let n = 0;
  const stopAt = performance.now() + SECONDS * 1000;
  function* src() {
    for (let i = 0;; i++) {
      if ((i & 255) === 0 && performance.now() > stopAt) return;
      yield i;
    }
  }
  const events: PipelineEvent[] = [];
  let last = performance.now();
  const cpMs: number[] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await p.runToCompletion({ s: src() }, {
    sinks: { acc: () => void n++ },
    ...(store ? { store, checkpointEvery: { ms: 1000 } } : {}),
    logger: (e) => {
      if (e.type === "checkpoint") {
        events.push(e);
        cpMs.push(performance.now() - last);
        last = performance.now();
      }
    },
  });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    rate: n / ms * 1000,
    cps: events.length,
    cpMs,
    cpuUsPerItem: (cpu.user + cpu.system) / n,
  };
}

if (CP_RUNS === 0) Deno.exit(0);
const dir = await Deno.makeTempDir({
  prefix: "spool-bench-pipeline-",
  dir: Deno.env.get("BENCH_DIR") ?? undefined,
});
try {
  const offs: number[] = [];
  const ons: number[] = [];
  const cps: number[] = [];
  const offCpu: number[] = [];
  const onCpu: number[] = [];
  for (let i = 0; i < CP_RUNS; i++) {
    const off = await stateful(undefined);
    offs.push(off.rate);
    offCpu.push(off.cpuUsPerItem);
    const on = await stateful(`${dir}/r${i}`);
    ons.push(on.rate);
    cps.push(on.cps);
    onCpu.push(on.cpuUsPerItem);
  }
  const off = median(offs);
  const on = median(ons);
  console.log(
    `\n## Checkpoint cost (${STATE_MIB} MiB Float64Array state, ~${SECONDS} s per run, 1 checkpoint/s, median of ${CP_RUNS} alternating runs)`,
  );
  console.log("| variant | items/s (median) | items/s (each run) | checkpoints per run | cost |");
  console.log("|---|---:|---:|---:|---:|");
  console.log(
    `| no checkpoints | ${off.toFixed(0)} | ${offs.map((x) => x.toFixed(0)).join(", ")} | 0 | - |`,
  );
  console.log(
    `| checkpointEvery {ms: 1000} | ${on.toFixed(0)} | ${
      ons.map((x) => x.toFixed(0)).join(", ")
    } | ${cps.join(", ")} | ${((1 - on / off) * 100).toFixed(1)}% |`,
  );
  const c0 = median(offCpu);
  const c1 = median(onCpu);
  console.log(
    `\nCPU time of this process (all threads: main + pool workers + I/O) per item: ` +
      `${c0.toFixed(2)} µs without, ${c1.toFixed(2)} µs with checkpoints (+${
        ((c1 / c0 - 1) * 100).toFixed(1)
      }%).`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
