/**
 * StateStore save/load of 256 MiB of typed-array state vs writing/reading the same bytes with
 * `Deno.writeFile` + fsync / `Deno.readFile`, in the same run, alternating, medians.
 *
 *   npx -y deno@2.9.6 run -A bench/state_compare.ts [--mib 256] [--rounds 5]
 *
 * The state is four Float64Array columns (64 MiB each) plus a small JSON value. The baseline
 * writes the four columns as four files with `Deno.writeFile`, then opens each and fsyncs it
 * (no directory fsync, no checksum, no manifest). The store does everything its protocol needs
 * (temp dir, checksums while writing, fsync of files and directories, manifest, rename).
 */

import { LatestStatesKeeper, recordState, StateStore } from "../src/state/mod.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}
const MIB = arg("mib", 256);
const ROUNDS = arg("rounds", 5);
const COLUMNS = 4;
const bytesTotal = MIB * 1024 * 1024;
const perColumn = bytesTotal / COLUMNS / 8;

const columns: Record<string, Float64Array | number> = {};
for (let c = 0; c < COLUMNS; c++) {
  const col = new Float64Array(perColumn);
  for (let i = 0; i < col.length; i++) col[i] = i * 0.5 + c;
  columns[`col${c}`] = col;
}
columns.position = 123456;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const root = await Deno.makeTempDir({ prefix: "spool-bench-state-" });
const rawDir = `${root}/raw`;
await Deno.mkdir(rawDir);

async function baselineWrite(): Promise<number> {
  // Fresh files each time, like the store's snapshots (overwriting would add truncation).
  await Deno.remove(rawDir, { recursive: true });
  await Deno.mkdir(rawDir);
  const t0 = performance.now();
  for (let c = 0; c < COLUMNS; c++) {
    const col = columns[`col${c}`] as Float64Array;
    const path = `${rawDir}/col${c}.bin`;
    await Deno.writeFile(path, new Uint8Array(col.buffer, col.byteOffset, col.byteLength));
    const f = await Deno.open(path, { read: true, write: true });
    await f.sync();
    f.close();
  }
  return performance.now() - t0;
}

async function baselineFsFileWrite(): Promise<number> {
  await Deno.remove(rawDir, { recursive: true });
  await Deno.mkdir(rawDir);
  const t0 = performance.now();
  for (let c = 0; c < COLUMNS; c++) {
    const col = columns[`col${c}`] as Float64Array;
    const bytes = new Uint8Array(col.buffer, col.byteOffset, col.byteLength);
    const f = await Deno.open(`${rawDir}/col${c}.bin`, { write: true, createNew: true });
    let off = 0;
    while (off < bytes.length) off += await f.write(bytes.subarray(off));
    await f.sync();
    f.close();
  }
  return performance.now() - t0;
}

async function baselineRead(): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  for (let c = 0; c < COLUMNS; c++) {
    const bytes = await Deno.readFile(`${rawDir}/col${c}.bin`);
    n += new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8).length;
  }
  if (n !== perColumn * COLUMNS) throw new Error("short read");
  return performance.now() - t0;
}

async function baselineReadInto(): Promise<number> {
  const t0 = performance.now();
  for (let c = 0; c < COLUMNS; c++) {
    const file = await Deno.open(`${rawDir}/col${c}.bin`, { read: true });
    const bytes = new Uint8Array(perColumn * 8);
    let off = 0;
    while (off < bytes.length) {
      const n = await file.read(bytes.subarray(off));
      if (n === null) break;
      off += n;
    }
    file.close();
    if (off !== bytes.length) throw new Error("short read");
  }
  return performance.now() - t0;
}

const results: Record<string, number[]> = {
  "writeFile+fsync": [],
  "open+write+fsync (FsFile)": [],
  "StateStore.save crc32": [],
  "StateStore.save sha256": [],
  "readFile": [],
  "open+read into a preallocated buffer": [],
  "StateStore.load crc32 (verify+load)": [],
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const stores = {
  crc32: new StateStore(`${root}/store-crc32`, { checksum: "crc32" }),
  sha256: new StateStore(`${root}/store-sha256`, { checksum: "sha256" }),
};
const states = {
  crc32: stores.crc32.register("columns", recordState(columns)),
  sha256: stores.sha256.register("columns", recordState(columns)),
};
let lastPath = "";
const ops: [string, () => Promise<number>][] = [
  ["open+write+fsync (FsFile)", baselineFsFileWrite],
  ["writeFile+fsync", baselineWrite],
  ["StateStore.save crc32", async () => {
    await stores.crc32.prune(new LatestStatesKeeper(0));
    const t0 = performance.now();
    lastPath = await stores.crc32.save();
    return performance.now() - t0;
  }],
  ["StateStore.save sha256", async () => {
    await stores.sha256.prune(new LatestStatesKeeper(0));
    const t0 = performance.now();
    await stores.sha256.save();
    return performance.now() - t0;
  }],
];
for (let r = 0; r < ROUNDS; r++) {
  // Rotate the order every round; pause between operations so deferred work of the previous one
  // (writeback, deletions) lands outside the timed region of the next.
  for (let k = 0; k < ops.length; k++) {
    const [name, op] = ops[(r + k) % ops.length]!;
    await sleep(300);
    results[name]!.push(await op());
  }
  await sleep(300);
  results["readFile"]!.push(await baselineRead());
  await sleep(300);
  results["open+read into a preallocated buffer"]!.push(await baselineReadInto());
  await sleep(300);
  const before = states.crc32.value;
  const t0 = performance.now();
  await stores.crc32.load(lastPath);
  results["StateStore.load crc32 (verify+load)"]!.push(performance.now() - t0);
  const loaded = states.crc32.value;
  states.crc32.value = before;
  if ((loaded.col3 as Float64Array)[7] !== 3.5 + 3) throw new Error("bad load");
}
await stores.crc32.close();
await stores.sha256.close();
await Deno.remove(root, { recursive: true });

const row = (name: string) => {
  const ms = median(results[name]!);
  return { name, ms, mibs: MIB / (ms / 1000) };
};
const base = row("writeFile+fsync");
const read = row("open+read into a preallocated buffer");
console.log(
  `state_compare: ${MIB} MiB in ${COLUMNS} Float64Array columns, medians of ${ROUNDS} ` +
    `(order rotated, 300 ms pauses), Deno ${Deno.version.deno}, ` +
    `${new Date().toISOString()}`,
);
console.log(
  "| operation | median ms | MiB/s | throughput vs baseline (writes: writeFile+fsync; " +
    "reads: read into buffer) |",
);
console.log("|---|---:|---:|---:|");
for (const name of Object.keys(results)) {
  const r = row(name);
  const ref = name.includes("load") || name.includes("read") ? read : base;
  console.log(
    `| ${name} | ${r.ms.toFixed(0)} | ${r.mibs.toFixed(0)} | ${(ref.ms / r.ms).toFixed(2)}x |`,
  );
}
const ratio = base.ms / row("StateStore.save crc32").ms;
console.log(
  `goal: StateStore.save >= 0.7x writeFile+fsync throughput: ${ratio.toFixed(2)}x -> ${
    ratio >= 0.7 ? "MET" : "MISSED"
  }`,
);
console.log("samples (ms):");
for (const [name, xs] of Object.entries(results)) {
  console.log(`  ${name}: ${xs.map((x) => x.toFixed(0)).join(" ")}`);
}
const raw = median(results["open+write+fsync (FsFile)"]!) / row("StateStore.save crc32").ms;
console.log(`StateStore.save vs the fastest raw write (FsFile write + fsync): ${raw.toFixed(2)}x`);
