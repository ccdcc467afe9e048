// Run one Node peer on one workload and print a JSON line of figures.
// usage: node peers.mjs <piscina|tinypool|single> <noop|cpu|buf> <tasks> <iters> <threads> <window>
// Loaded through a variable specifier so `deno check bench/` does not try to resolve these npm
// packages (they live in bench/node/node_modules, installed with npm for Node).
const load = (name) => import(name);
const { Piscina } = await load("piscina");
const { Tinypool } = await load("tinypool");
import { spin } from "./work.mjs";

const [lib, mode, nArg, itersArg, threadsArg, windowArg] = process.argv.slice(
  2,
);
const n = Number(nArg);
const iters = Number(itersArg);
const threads = Number(threadsArg ?? 2);
const window = Number(windowArg ?? 256);
process.env.POOL_BENCH_MODE = mode;
process.env.POOL_BENCH_ITERS = String(iters);

if (lib === "single") {
  const t0 = performance.now();
  let acc = 0;
  for (let i = 0; i < n; i++) acc ^= spin(i, iters);
  const ms = performance.now() - t0;
  console.log(
    JSON.stringify({ lib, mode, n, ms, perSec: (n / ms) * 1000, acc }),
  );
  process.exit(0);
}

const filename = new URL("./task_worker.mjs", import.meta.url).href;
const pool = lib === "piscina"
  ? new Piscina({
    filename,
    minThreads: threads,
    maxThreads: threads,
    env: process.env,
  })
  : new Tinypool({
    filename,
    minThreads: threads,
    maxThreads: threads,
    env: process.env,
  });

function input(i) {
  if (mode === "buf") return new ArrayBuffer(1 << 20);
  return i;
}

async function runAll(count) {
  let next = 0;
  let done = 0;
  await new Promise((resolve, reject) => {
    const launch = () => {
      while (next < count && next - done < window) {
        const x = input(next++);
        const opts = mode === "buf" ? { transferList: [x] } : undefined;
        pool.run(x, opts).then(() => {
          done++;
          if (done === count) resolve();
          else launch();
        }, reject);
      }
    };
    launch();
  });
}

await runAll(Math.min(n, 2000)); // warm-up
const t0 = performance.now();
await runAll(n);
const ms = performance.now() - t0;
console.log(JSON.stringify({ lib, mode, n, ms, perSec: (n / ms) * 1000 }));
await pool.destroy();
