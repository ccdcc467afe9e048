// NATS pool benchmark, on loopback, as ratios in one run: spool's NatsPool with 2 remote worker
// processes (src/pool/nats/remote_worker_main.ts) against the local process pool with the same
// worker count (WorkerPool kind "process", size 2) and against BullMQ on Redis (2 worker
// processes, concurrency 50 each). Interleaved rounds, medians. Prints a markdown table.
//
//   SPOOL_NATS_SERVER=/path/to/nats-server deno run -A bench/nats_compare.ts [--rounds 3] [--quick]
//     [--skip-bullmq]
//
// Needs nats-server (SPOOL_NATS_SERVER, else on PATH) and, unless --skip-bullmq, redis-server
// on PATH (Debian: apt-get install -y redis-server; benchmarks only, CI does not install it).
// Every server and process it starts is stopped at the end, on a failure and on Ctrl-C.
//
// Measures:
// - no-op tasks unchunked (chunkSize 1): tasks/s; NatsPool vs local process pool vs BullMQ;
// - no-op items chunked (chunkSize 1000): items/s; NatsPool vs local process pool;
// - CPU-bound ~1 ms tasks (a busy loop calibrated here; the workers report each task's duration,
//   so the table shows whether the calibration held): tasks/s, NatsPool vs local;
// - per-task overhead, 1 worker at concurrency 1, unchunked: wall / tasks in µs;
// - a worker SIGKILLed while it holds a task (ack_wait 1000 ms): time from the kill to that
//   task's result from the other worker, and to the end of the map.

import { WorkerPool } from "../src/pool/mod.ts";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { startNatsServer } from "../tests/nats/server.ts";
import type Work from "./nats/work.ts";
import { type BenchQueue, openQueue } from "./nats/bullmq_deps.ts";
import { spin } from "./pool_work.ts";

const args = Deno.args;
const flag = (name: string) => args.includes(`--${name}`);
const QUICK = flag("quick");
const ROUNDS = args.includes("--rounds")
  ? Number(args[args.indexOf("--rounds") + 1])
  : QUICK
  ? 1
  : 3;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error("--rounds takes an integer >= 1");
const KNOWN = new Set(["--quick", "--skip-bullmq", "--rounds", String(ROUNDS)]);
for (const a of args) if (!KNOWN.has(a)) throw new Error(`unknown argument ${a}`);
const SKIP_BULLMQ = flag("skip-bullmq");
const SCALE = QUICK ? 0.2 : 1;
const N_NOOP = Math.round(20_000 * SCALE);
const N_BULL = Math.round(20_000 * SCALE);
const N_CHUNK = Math.round(400_000 * SCALE);
const CHUNK = 1000;
const N_CPU = Math.round(2_000 * SCALE);
const N_SOLO = Math.round(4_000 * SCALE);
const N_KILL = 200;
const WORKERS = 2;
const CONCURRENCY = 50; // per remote worker, as BullMQ's
const CPU_CONCURRENCY = 2; // per remote worker for the CPU-bound tasks
const ACK_WAIT_MS = 1000;
const WORK = new URL("./nats/work.ts", import.meta.url);
const ENTRY = new URL("../src/pool/nats/remote_worker_main.ts", import.meta.url).pathname;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 2);
const log = (line: string) => console.error(line);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything started, stopped in reverse order (also on failure and on Ctrl-C). */
const cleanup = new AsyncDisposableStack();
let cleaning: Promise<void> | undefined;
const stopAll = () => cleaning ??= cleanup.disposeAsync();
const onSigint = () => void stopAll().finally(() => Deno.exit(130));
Deno.addSignalListener("SIGINT", onSigint);

/** A child process that prints `ready` on stdout once it serves. */
interface Child {
  readonly pid: number;
  /** Stop (SIGTERM, then SIGKILL after 5 s); idempotent. */
  stop(): Promise<Deno.CommandStatus>;
  /** SIGKILL; idempotent. */
  kill(): Promise<Deno.CommandStatus>;
}

async function spawnReady(label: string, cmd: string, cmdArgs: string[]): Promise<Child> {
  const child = new Deno.Command(cmd, { args: cmdArgs, stdout: "piped", stderr: "piped" })
    .spawn();
  let stderr = "";
  const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (s) => void (stderr = (stderr + s).slice(-4000)) }),
  ).catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let ended: Promise<Deno.CommandStatus> | undefined;
  const end = (signal: Deno.Signal) =>
    ended ??= (async () => {
      try {
        child.kill(signal);
      } catch { /* exited */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 5000);
      const status = await child.status;
      clearTimeout(timer);
      await reader.cancel().catch(() => {});
      await errDone;
      return status;
    })();
  const c: Child = { pid: child.pid, stop: () => end("SIGTERM"), kill: () => end("SIGKILL") };
  cleanup.defer(async () => void await c.stop());
  let seen = "";
  const deadline = setTimeout(() => void c.kill(), 60_000);
  while (!seen.includes("ready")) {
    const r = await reader.read().catch(() => ({ done: true, value: "" }));
    if (r.done) break;
    seen += r.value;
  }
  clearTimeout(deadline);
  if (!seen.includes("ready")) {
    await c.kill();
    throw new Error(`${label} did not start: ${seen} ${stderr}`);
  }
  // the rest of stdout is drained so the child never blocks on a full pipe
  (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  return c;
}

function remoteWorker(url: string, pool: string, index: number, concurrency: number) {
  return spawnReady(`remote worker ${pool}#${index}`, Deno.execPath(), [
    "run",
    "-A",
    ENTRY,
    ...["--servers", url, "--pool", pool, "--module", WORK.href],
    ...["--index", String(index), "--size", String(WORKERS)],
    ...["--concurrency", String(concurrency), "--ack-wait-ms", String(ACK_WAIT_MS)],
  ]);
}

/** A free loopback port (the OS picks it; closed again at once). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** redis-server on a free port, no persistence; waits until it accepts connections. */
async function startRedis(): Promise<number> {
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  cleanup.defer(async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
  });
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return port;
    } catch {
      await sleep(25);
    }
  }
  throw new Error(`redis-server did not listen on ${port}`);
}

/** Busy-loop iterations for ~1 ms on this machine (the fastest of a few measures). */
function calibrate1ms(): number {
  let iters = 10_000;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) spin(i, iters);
    const per = (performance.now() - t0) / 50;
    if (per > 0.2) {
      iters = Math.round(iters / per);
      break;
    }
    iters *= 4;
  }
  const ms: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) spin(i, iters);
    ms.push((performance.now() - t0) / 200);
  }
  // the fastest measure: a busy machine slows some measures down, never speeds one up
  return Math.round(iters / Math.min(...ms));
}

type AnyPool = { map: NatsPool<typeof Work>["map"] };

/** Seconds to map `items` (every result read); the results' values go to `values` if given. */
async function timeMap(
  pool: AnyPool,
  items: unknown[],
  options: { chunkSize: number },
  values?: number[],
): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  for await (const v of pool.map(items as number[], { ...options, ordered: false })) {
    n++;
    values?.push(v);
  }
  const s = (performance.now() - t0) / 1000;
  if (n !== items.length) throw new Error(`${n} results for ${items.length} inputs`);
  return s;
}

/** Seconds for BullMQ to complete `n` no-op jobs (added in bulks of 1000 while workers run). */
async function timeBullmq(queue: BenchQueue, n: number): Promise<number> {
  const base = await queue.completed();
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const k = Math.min(1000, n - i);
    await queue.add(Array.from({ length: k }, (_, j) => i + j));
  }
  while ((await queue.completed()) < base + n) await sleep(5);
  return (performance.now() - t0) / 1000;
}

/** SIGKILL the worker holding a task: ms from the kill to that task's result, and to map end. */
async function timeKill(url: string, round: number, iters: number, dir: string) {
  const name = `kill${round}`;
  await using pool = await NatsPool.start<typeof Work>({
    servers: url,
    pool: name,
    size: 8,
    ackWaitMs: ACK_WAIT_MS,
  });
  const workers = [await remoteWorker(url, name, 0, 4), await remoteWorker(url, name, 1, 4)];
  const hold = `${dir}/hold-${round}`;
  const items: unknown[] = Array.from({ length: N_KILL }, (_, i) => [i, iters]);
  items[40] = ["hold", hold];
  let heldDone = 0;
  const mapping = (async () => {
    for await (const r of pool.map(items as number[], { ordered: false, errors: "collect" })) {
      if (!r.ok) throw r.error;
      if (r.index === 40) heldDone = performance.now();
    }
    return performance.now();
  })();
  let pid = "";
  while (pid === "") {
    pid = await Deno.readTextFile(hold).catch(() => "");
    if (pid === "") await Promise.race([sleep(2), mapping]);
  }
  const victim = workers.find((w) => w.pid === Number(pid));
  if (victim === undefined) throw new Error(`the hold file names pid ${pid}, not a worker`);
  const tKill = performance.now();
  await victim.kill();
  const tEnd = await mapping;
  for (const w of workers) await w.stop();
  return { held: heldDone - tKill, end: tEnd - tKill };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** The pid of the harness's nats-server (its command line names the server's folder). */
async function serverPid(storeDir: string): Promise<number> {
  const folder = storeDir.replace(/\/[^/]*$/, "");
  try {
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
      if (cmd.includes("nats-server") && cmd.includes(folder)) return Number(e.name);
    }
  } catch { /* no /proc */ }
  return NaN;
}

/** CPU µs per task of the workers (together), this process and the server, over `run`. */
async function cpuPerTask(
  pids: { workers: number[]; server: number },
  tasks: number,
  run: () => Promise<number>,
): Promise<{ seconds: number; workers: number; coordinator: number; server: number }> {
  const all = [...pids.workers, Deno.pid, pids.server];
  const before = await Promise.all(all.map(cpuSeconds));
  const seconds = await run();
  const after = await Promise.all(all.map(cpuSeconds));
  const us = (i: number) => 1e6 * (after[i]! - before[i]!) / tasks;
  const w = pids.workers.length;
  let workers = 0;
  for (let i = 0; i < w; i++) workers += us(i);
  return { seconds, workers, coordinator: us(w), server: us(w + 1) };
}

interface Figures {
  [key: string]: number[];
}

function record(f: Figures, key: string, value: number): void {
  (f[key] ??= []).push(value);
  log(`  ${key}: ${fmt(value)}`);
}

async function main(): Promise<void> {
  const load0 = new TextDecoder().decode(
    (await new Deno.Command("uptime", { stdout: "piped" }).output()).stdout,
  ).trim();
  const iters = calibrate1ms();
  log(`calibration: ${iters} iterations ~ 1 ms; ${load0}`);
  const dir = await Deno.makeTempDir({ prefix: "spool-nats-bench-" });
  cleanup.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));

  const server = await startNatsServer();
  cleanup.defer(() => server.stop());
  const nats = await NatsPool.start<typeof Work>({
    servers: server.url,
    pool: "bench",
    size: WORKERS * CONCURRENCY,
  });
  cleanup.defer(() => nats.close());
  const benchPids = { workers: [] as number[], server: await serverPid(server.storeDir) };
  for (let i = 0; i < WORKERS; i++) {
    benchPids.workers.push((await remoteWorker(server.url, "bench", i, CONCURRENCY)).pid);
  }
  // CPU-bound work: 2 tasks held per worker (one runs, one waits), as a local pool's window
  const cpuPool = await NatsPool.start<typeof Work>({
    servers: server.url,
    pool: "cpu",
    size: WORKERS * CPU_CONCURRENCY,
  });
  cleanup.defer(() => cpuPool.close());
  for (let i = 0; i < WORKERS; i++) await remoteWorker(server.url, "cpu", i, CPU_CONCURRENCY);
  const solo = await NatsPool.start<typeof Work>({ servers: server.url, pool: "solo", size: 1 });
  cleanup.defer(() => solo.close());
  await remoteWorker(server.url, "solo", 0, 1);
  const local = await WorkerPool.start<typeof Work>({
    module: WORK,
    size: WORKERS,
    kind: "process",
  });
  cleanup.defer(() => local.close());
  const local1 = await WorkerPool.start<typeof Work>({ module: WORK, size: 1, kind: "process" });
  cleanup.defer(() => local1.close());
  let queue: BenchQueue | undefined;
  if (!SKIP_BULLMQ) {
    const port = await startRedis();
    for (let i = 0; i < WORKERS; i++) {
      await spawnReady(`bullmq worker ${i}`, Deno.execPath(), [
        "run",
        "-A",
        new URL("./nats/bullmq_worker.ts", import.meta.url).pathname,
        ...["--port", String(port), "--queue", "bench", "--concurrency", String(CONCURRENCY)],
      ]);
    }
    const q = openQueue(port, "bench");
    cleanup.defer(() => q.close());
    queue = q;
  }

  const noop = (n: number) => Array.from({ length: n }, (_, i) => i);
  const cpu = Array.from({ length: N_CPU }, (_, i) => [i, iters]);
  // warm-up: JIT, connections, consumers
  await timeMap(nats, noop(2000), { chunkSize: 1 });
  await timeMap(local, noop(2000), { chunkSize: 1 });
  await timeMap(solo, noop(200), { chunkSize: 1 });
  await timeMap(cpuPool, cpu.slice(0, 200), { chunkSize: 1 });
  await timeMap(local1, noop(200), { chunkSize: 1 });
  if (queue) await timeBullmq(queue, 2000);

  const f: Figures = {};
  const taskMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    log(`round ${r + 1}/${ROUNDS}`);
    const c = await cpuPerTask(
      benchPids,
      N_NOOP,
      () => timeMap(nats, noop(N_NOOP), { chunkSize: 1 }),
    );
    record(f, "nats noop", N_NOOP / c.seconds);
    record(f, "cpu us workers", c.workers);
    record(f, "cpu us coordinator", c.coordinator);
    record(f, "cpu us server", c.server);
    record(f, "local noop", N_NOOP / await timeMap(local, noop(N_NOOP), { chunkSize: 1 }));
    if (queue) record(f, "bullmq noop", N_BULL / await timeBullmq(queue, N_BULL));
    record(f, "nats chunked", N_CHUNK / await timeMap(nats, noop(N_CHUNK), { chunkSize: CHUNK }));
    record(
      f,
      "local chunked",
      N_CHUNK / await timeMap(local, noop(N_CHUNK), { chunkSize: CHUNK }),
    );
    record(f, "nats cpu", N_CPU / await timeMap(cpuPool, cpu, { chunkSize: 1 }, taskMs));
    record(f, "local cpu", N_CPU / await timeMap(local, cpu, { chunkSize: 1 }, taskMs));
    record(f, "nats cpu x10", N_CPU / await timeMap(cpuPool, cpu, { chunkSize: 10 }, taskMs));
    record(f, "local cpu x10", N_CPU / await timeMap(local, cpu, { chunkSize: 10 }, taskMs));
    record(f, "nats solo", 1e6 * await timeMap(solo, noop(N_SOLO), { chunkSize: 1 }) / N_SOLO);
    record(f, "local solo", 1e6 * await timeMap(local1, noop(N_SOLO), { chunkSize: 1 }) / N_SOLO);
    const k = await timeKill(server.url, r, iters, dir);
    record(f, "kill held", k.held);
    record(f, "kill end", k.end);
  }
  const load1 = new TextDecoder().decode(
    (await new Deno.Command("uptime", { stdout: "piped" }).output()).stdout,
  ).trim();
  printTable(f, median(taskMs), iters, load0, load1);
}

function printTable(f: Figures, taskMs: number, iters: number, load0: string, load1: string) {
  const m = (k: string) => (f[k] ? median(f[k]!) : NaN);
  const show = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}x` : "-");
  const ratio = (a: number, b: number) => show(a / b);
  // rounds are interleaved: the ratio of each round's pair, then the median of those
  const paired = (a: string, b: string) =>
    f[a] && f[b] ? show(median(f[a]!.map((x, i) => x / f[b]![i]!))) : "-";
  const cell = (k: string) => (f[k] ? fmt(m(k)) : "-");
  const rows = [
    [
      "no-op tasks/s, unchunked (chunkSize 1)",
      cell("nats noop"),
      cell("local noop"),
      cell("bullmq noop"),
      `${paired("nats noop", "bullmq noop")} BullMQ, ${paired("nats noop", "local noop")} local`,
      ">= 3x BullMQ",
    ],
    [
      `no-op items/s, chunked (chunkSize ${CHUNK})`,
      cell("nats chunked"),
      cell("local chunked"),
      "-",
      `${paired("nats chunked", "local chunked")} local`,
      ">= 500,000 items/s",
    ],
    [
      `CPU-bound tasks/s (~1 ms each; workers measured ${taskMs.toFixed(3)} ms)`,
      cell("nats cpu"),
      cell("local cpu"),
      "-",
      `${paired("nats cpu", "local cpu")} local`,
      ">= 0.9x local",
    ],
    [
      "CPU-bound tasks/s, chunkSize 10",
      cell("nats cpu x10"),
      cell("local cpu x10"),
      "-",
      `${paired("nats cpu x10", "local cpu x10")} local`,
      ">= 0.9x local",
    ],
    [
      "per-task overhead, µs (1 worker, concurrency 1, unchunked)",
      cell("nats solo"),
      cell("local solo"),
      "-",
      `${paired("nats solo", "local solo")} local`,
      "",
    ],
    [
      "CPU per unchunked no-op task, µs: workers (both) / coordinator / nats-server",
      `${cell("cpu us workers")} / ${cell("cpu us coordinator")} / ${cell("cpu us server")}`,
      "-",
      "-",
      "",
      "",
    ],
    [
      `SIGKILL -> its held task done elsewhere, ms (ack_wait ${ACK_WAIT_MS} ms)`,
      cell("kill held"),
      "-",
      "-",
      `${ratio(m("kill held"), ACK_WAIT_MS)} ack_wait`,
      `<= ack_wait + a pull`,
    ],
    [
      `SIGKILL -> the map (${N_KILL} tasks of ~1 ms) complete, ms`,
      cell("kill end"),
      "-",
      "-",
      "",
      "",
    ],
  ];
  const out = [
    `NatsPool: ${WORKERS} remote worker processes x concurrency ${CONCURRENCY} ` +
    `(${CPU_CONCURRENCY} for the CPU-bound rows); local: WorkerPool ` +
    `kind "process", size ${WORKERS}; BullMQ 6.7.0 (ioredis 6.0.0): ${WORKERS} worker processes ` +
    `x concurrency ${CONCURRENCY}${SKIP_BULLMQ ? " (skipped)" : ""}. Medians of ${ROUNDS} ` +
    `interleaved round(s)${QUICK ? " (--quick)" : ""}; ${iters} busy-loop iterations ~ 1 ms.`,
    "",
    "| measure | NatsPool | local process pool | BullMQ | ratio (median of per-round ratios) | goal |",
    "| --- | ---: | ---: | ---: | --- | --- |",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
    "On loopback the coordinator and nats-server run on the cores the workers use: every " +
    "row pays the three CPU costs above per task (across hosts the workers pay only theirs).",
    "",
    `per round: ${Object.entries(f).map(([k, v]) => `${k} [${v.map(fmt).join(", ")}]`).join("; ")}`,
    "",
    `load before: ${load0}`,
    `load after:  ${load1}`,
  ];
  console.log(out.join("\n"));
}

try {
  await main();
} finally {
  await stopAll();
  Deno.removeSignalListener("SIGINT", onSigint);
}
