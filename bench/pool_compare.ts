// Side-by-side worker pool benchmark: spool WorkerPool vs a raw Deno Worker round-robin floor vs
// piscina and tinypool on Node. 2 workers, medians of --runs runs.
//
//   npx -y deno@2.9.6 run -A bench/pool_compare.ts [--runs 3] [--skip-node]
//   (needs `cd bench/node && npm install` for the Node peers)

import { fileURLToPath } from "node:url";
import { WorkerPool } from "../src/pool/mod.ts";
import type Bench from "./pool_bench_worker.ts";
import { spin } from "./pool_work.ts";

const args = Deno.args;
const RUNS = Number(args[args.indexOf("--runs") + 1] || 3) || 3;
const SKIP_NODE = args.includes("--skip-node");
const ONLY = args.includes("--only") ? args[args.indexOf("--only") + 1]! : "";
const SIZE = 2;
const WINDOW = 64; // tasks in flight for the raw floor and the Node peers
const BUF_WINDOW = 8; // 1 MiB buffers in flight, every side (spool: maxInFlight)
const N_NOOP = 40_000;
const N_CHUNK = 2_000_000;
const N_CPU = 8_000;
const N_BUF = 1_000;
const MIB = 1 << 20;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// ---- calibrate ~100 µs of spin on this machine
function calibrate(): number {
  let iters = 10_000;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) spin(i, iters);
    const per = (performance.now() - t0) / 200;
    if (per > 0.02) return Math.round(iters * (0.1 / per));
    iters *= 4;
  }
}

function singleThreadMs(n: number, iters: number): number {
  const t0 = performance.now();
  let acc = 0;
  for (let i = 0; i < n; i++) acc ^= spin(i, iters);
  if (acc === 42) console.log("");
  return performance.now() - t0;
}

// ---- raw Deno Worker round-robin floor: one message per task, WINDOW tasks in flight
async function rawFloor(mode: string, n: number, iters: number): Promise<number> {
  const workers = Array.from(
    { length: SIZE },
    () => new Worker(new URL("./pool_raw_worker.ts", import.meta.url), { type: "module" }),
  );
  await Promise.all(workers.map((w) =>
    new Promise<void>((r) => {
      w.onmessage = () => r();
      w.postMessage({ mode, iters });
    })
  ));
  const run = (count: number) =>
    new Promise<void>((resolve) => {
      let sent = 0;
      let done = 0;
      const send = () => {
        while (sent < count && sent - done < (mode === "buf" ? BUF_WINDOW : WINDOW)) {
          const w = workers[sent % SIZE]!;
          if (mode === "buf") {
            const b = new ArrayBuffer(MIB);
            w.postMessage(b, [b]);
          } else w.postMessage(sent);
          sent++;
        }
      };
      for (const w of workers) {
        w.onmessage = () => {
          if (++done === count) resolve();
          else send();
        };
      }
      send();
    });
  await run(Math.min(n, 2000));
  const t0 = performance.now();
  await run(n);
  const ms = performance.now() - t0;
  for (const w of workers) w.terminate();
  return ms;
}

// ---- spool
async function spool(
  mode: "noop" | "cpu" | "buf",
  n: number,
  iters: number,
  opts: {
    chunkSize?: number | "auto";
    transfer?: boolean;
    ordered?: boolean;
    maxInFlight?: number;
  },
  kind: "worker" | "process" = "worker",
): Promise<number> {
  await using pool = await WorkerPool.start<typeof Bench>({
    module: new URL("./pool_bench_worker.ts", import.meta.url),
    size: SIZE,
    init: { mode, iters },
    kind,
  });
  const input = function* (count: number) {
    for (let i = 0; i < count; i++) yield mode === "buf" ? new ArrayBuffer(MIB) : i;
  };
  const go = async (count: number) => {
    let k = 0;
    for await (const _ of pool.map(input(count), opts)) k++;
    if (k !== count) throw new Error(`lost results: ${k} of ${count}`);
  };
  await go(Math.min(n, 2000));
  const t0 = performance.now();
  await go(n);
  return performance.now() - t0;
}

async function node(lib: string, mode: string, n: number, iters: number): Promise<number> {
  const out = await new Deno.Command("node", {
    args: [
      fileURLToPath(new URL("./node/peers.mjs", import.meta.url)),
      lib,
      mode,
      String(n),
      String(iters),
      String(SIZE),
      String(mode === "buf" ? BUF_WINDOW : WINDOW),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`node ${lib} ${mode} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!).ms;
}

async function med(f: () => Promise<number>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await f());
  return median(xs);
}

const iters = calibrate();
const rows: [string, string, number, string][] = [];
const fmt = (x: number) => x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`;
const add = (workload: string, who: string, perSec: number, note = "") => {
  rows.push([workload, who, perSec, note]);
  console.error(`${workload.padEnd(22)} ${who.padEnd(26)} ${fmt(perSec).padStart(8)}/s ${note}`);
};
const want = (w: string) => ONLY === "" || ONLY === w;

console.error(`spin iters for ~100 µs: ${iters}; ${RUNS} runs each, median; ${SIZE} workers`);
const results: Record<string, number> = {};

if (want("noop")) {
  results.rawNoop = N_NOOP / (await med(() => rawFloor("noop", N_NOOP, 0))) * 1000;
  add("no-op unchunked", "raw Deno Worker floor", results.rawNoop);
  results.spoolNoop = N_NOOP / (await med(() => spool("noop", N_NOOP, 0, {}))) * 1000;
  add("no-op unchunked", "spool (ordered)", results.spoolNoop);
  results.spoolNoopU = N_NOOP / (await med(() => spool("noop", N_NOOP, 0, { ordered: false }))) *
    1000;
  add("no-op unchunked", "spool (unordered)", results.spoolNoopU);
  results.spoolNoopP = N_NOOP / (await med(() => spool("noop", N_NOOP, 0, {}, "process"))) * 1000;
  add("no-op unchunked", "spool kind: process", results.spoolNoopP);
  if (!SKIP_NODE) {
    results.piscinaNoop = N_NOOP / (await med(() => node("piscina", "noop", N_NOOP, 0))) * 1000;
    add("no-op unchunked", "piscina", results.piscinaNoop);
    results.tinypoolNoop = N_NOOP / (await med(() => node("tinypool", "noop", N_NOOP, 0))) * 1000;
    add("no-op unchunked", "tinypool", results.tinypoolNoop);
  }
}
if (want("chunk")) {
  results.spoolAuto = N_CHUNK / (await med(() =>
    spool("noop", N_CHUNK, 0, { chunkSize: "auto" })
  )) * 1000;
  add("no-op chunked", "spool chunkSize auto", results.spoolAuto);
  results.spool1024 = N_CHUNK / (await med(() => spool("noop", N_CHUNK, 0, { chunkSize: 1024 }))) *
    1000;
  add("no-op chunked", "spool chunkSize 1024", results.spool1024);
  results.spoolAutoP = N_CHUNK / (await med(() =>
    spool("noop", N_CHUNK, 0, { chunkSize: "auto" }, "process")
  )) *
    1000;
  add("no-op chunked", "spool auto, kind: process", results.spoolAutoP);
}
if (want("cpu")) {
  // Efficiency = single-thread time / (parallel time * workers). The machine is shared, so each
  // parallel run is paired with a single-thread run just before it (same runtime), and the
  // median of the per-pair ratios is kept.
  const effOf = async (par: () => Promise<number>, single: () => Promise<number>) => {
    const xs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const s1 = await single();
      xs.push(s1 / ((await par()) * SIZE));
    }
    return median(xs);
  };
  const denoSingle = () => Promise.resolve(singleThreadMs(N_CPU, iters));
  results.rawCpu = await effOf(() => rawFloor("cpu", N_CPU, iters), denoSingle);
  add(
    "cpu 100us efficiency",
    "raw Deno Worker floor",
    results.rawCpu * 1000,
    `eff ${results.rawCpu.toFixed(2)}`,
  );
  results.spoolCpu = await effOf(() => spool("cpu", N_CPU, iters, {}), denoSingle);
  add(
    "cpu 100us efficiency",
    "spool chunkSize 1",
    results.spoolCpu * 1000,
    `eff ${results.spoolCpu.toFixed(2)}`,
  );
  results.spoolCpuAuto = await effOf(
    () => spool("cpu", N_CPU, iters, { chunkSize: "auto" }),
    denoSingle,
  );
  add(
    "cpu 100us efficiency",
    "spool auto",
    results.spoolCpuAuto * 1000,
    `eff ${results.spoolCpuAuto.toFixed(2)}`,
  );
  if (!SKIP_NODE) {
    const nodeSingle = () => node("single", "cpu", N_CPU, iters);
    results.piscinaCpu = await effOf(() => node("piscina", "cpu", N_CPU, iters), nodeSingle);
    add(
      "cpu 100us efficiency",
      "piscina",
      results.piscinaCpu * 1000,
      `eff ${results.piscinaCpu.toFixed(2)}`,
    );
    results.tinypoolCpu = await effOf(() => node("tinypool", "cpu", N_CPU, iters), nodeSingle);
    add(
      "cpu 100us efficiency",
      "tinypool",
      results.tinypoolCpu * 1000,
      `eff ${results.tinypoolCpu.toFixed(2)}`,
    );
  }
}
if (want("buf")) {
  results.rawBuf = N_BUF / (await med(() => rawFloor("buf", N_BUF, 0))) * 1000;
  add("1 MiB in/out transfer", "raw Deno Worker floor", results.rawBuf);
  results.spoolBuf = N_BUF / (await med(() =>
    spool("buf", N_BUF, 0, { transfer: true, maxInFlight: BUF_WINDOW })
  )) * 1000;
  add("1 MiB in/out transfer", "spool transfer", results.spoolBuf);
  if (!SKIP_NODE) {
    results.piscinaBuf = N_BUF / (await med(() => node("piscina", "buf", N_BUF, 0))) * 1000;
    add("1 MiB in/out transfer", "piscina", results.piscinaBuf);
    results.tinypoolBuf = N_BUF / (await med(() => node("tinypool", "buf", N_BUF, 0))) * 1000;
    add("1 MiB in/out transfer", "tinypool", results.tinypoolBuf);
  }
}

const r = results;
const ratio = (a?: number, b?: number) => a && b ? (a / b).toFixed(2) : "n/a";
console.log("\n| workload | spool | raw Deno floor | piscina | tinypool |");
console.log("|---|---|---|---|---|");
if (r.spoolNoop) {
  console.log(
    `| no-op unchunked (tasks/s) | ${fmt(r.spoolNoop)} (unordered ${fmt(r.spoolNoopU!)}, process ${
      fmt(r.spoolNoopP!)
    }) | ${fmt(r.rawNoop!)} | ${r.piscinaNoop ? fmt(r.piscinaNoop) : "-"} | ${
      r.tinypoolNoop ? fmt(r.tinypoolNoop) : "-"
    } |`,
  );
}
if (r.spoolAuto) {
  console.log(
    `| no-op chunked (items/s) | auto ${fmt(r.spoolAuto)}, 1024 ${
      fmt(r.spool1024!)
    }, process auto ${fmt(r.spoolAutoP!)} | - | - | - |`,
  );
}
if (r.spoolCpu) {
  console.log(
    `| CPU 100 µs efficiency | ${r.spoolCpu.toFixed(2)} (auto ${r.spoolCpuAuto!.toFixed(2)}) | ${
      r.rawCpu!.toFixed(2)
    } | ${r.piscinaCpu?.toFixed(2) ?? "-"} | ${r.tinypoolCpu?.toFixed(2) ?? "-"} |`,
  );
}
if (r.spoolBuf) {
  console.log(
    `| 1 MiB in/out, transfer (tasks/s) | ${fmt(r.spoolBuf)} | ${fmt(r.rawBuf!)} | ${
      r.piscinaBuf ? fmt(r.piscinaBuf) : "-"
    } | ${r.tinypoolBuf ? fmt(r.tinypoolBuf) : "-"} |`,
  );
}
console.log("\nGoals:");
if (r.spoolNoop) {
  console.log(`- unchunked vs piscina: ${ratio(r.spoolNoop, r.piscinaNoop)}x (goal >= 3)`);
  console.log(`- unchunked vs raw floor: ${ratio(r.spoolNoop, r.rawNoop)}x (goal >= 0.7)`);
}
if (r.spoolAuto) console.log(`- chunked: ${fmt(r.spoolAuto)} items/s (goal >= 1M)`);
if (r.spoolCpu) {
  console.log(`- CPU efficiency vs raw: ${ratio(r.spoolCpu, r.rawCpu)}x (goal >= 0.95)`);
}
if (r.spoolBuf) {
  console.log(`- 1 MiB transfer vs piscina: ${ratio(r.spoolBuf, r.piscinaBuf)}x (goal >= 1)`);
}
