/**
 * How far behind the source a pipeline checkpoint commits: a 3-node main-thread pipeline
 * (inc -> dbl -> stateful sum) over a synchronous source, `checkpointEvery: {items}`; per run,
 * the number of checkpoints committed during the run, and the lag (items delivered to the sink
 * when a checkpoint committed, minus the checkpoint's source position): median and max, plus the
 * longest gap between two commits.
 *
 *   npx -y deno@2.9.6 run -A bench/checkpoint_lag.ts [--items 10000000] [--every 1000] [--runs 5]
 *
 * The store is a temporary directory (set TMPDIR to put it on another file system).
 */
import { Pipeline } from "../src/pipeline/mod.ts";
import { consumeSink } from "../src/pipeline/run.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}
const N = arg("items", 10_000_000);
const EVERY = arg("every", 1000);
const RUNS = arg("runs", 5);

console.log(
  `checkpoint_lag: ${N} items, checkpointEvery {items: ${EVERY}}, load average ${
    Deno.loadavg().map((x) => x.toFixed(2)).join(" ")
  }, ${new Date().toISOString()}`,
);
for (let r = 0; r < RUNS; r++) {
  const p = new Pipeline();
  p.source("s");
  p.node("inc", { inputs: ["s"], fn: (x: number) => x + 1 });
  p.node("dbl", { inputs: ["inc"], fn: (x: number) => 2 * x - 2 });
  p.node("acc", {
    inputs: ["dbl"],
    state: { sum: 0 },
    fn: (st: { sum: number }, x: number) => (st.sum += x),
  });
  const store = await Deno.makeTempDir({ prefix: "spool-bench-lag-" });
  try {
    let n = 0;
    const lags: number[] = [];
    let gap = 0;
    let last = performance.now();
    const t0 = last;
    const run = p.run({
      s: function* (pos: number) {
        for (let i = pos; i < N; i++) yield i;
      },
    }, {
      store,
      checkpointEvery: { items: EVERY },
      logger: (e) => {
        if (e.type === "checkpoint" && !e.done) {
          lags.push(n - e.positions.s!);
          const t = performance.now();
          gap = Math.max(gap, t - last);
          last = t;
        }
      },
    });
    await consumeSink(run, "acc", () => void n++);
    await run.done;
    const ms = performance.now() - t0;
    const sorted = [...lags].sort((a, b) => a - b);
    console.log(
      `run ${r + 1}: ${ms.toFixed(0)} ms, ${lags.length} checkpoints during the run, lag median ${
        sorted[sorted.length >> 1] ?? "-"
      } max ${sorted.at(-1) ?? "-"} items, longest gap between commits ${gap.toFixed(1)} ms`,
    );
  } finally {
    await Deno.remove(store, { recursive: true });
  }
}
