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

let baselineRound = 0;
async function baselineWrite(): Promise<number> {
  // Fresh files each round, like the store's snapshots (overwriting would add truncation).
  await Deno.remove(rawDir, { recursive: true });
  await Deno.mkdir(rawDir);
  baselineRound++;
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

for (const checksum of ["crc32", "sha256"] as const) {
  const dir = `${root}/store-${checksum}`;
  await using store = new StateStore(dir, { checksum });
  const state = store.register("columns", recordState(columns));
  const loader = { value: {} as Record<string, unknown> };
  for (let r = 0; r < (checksum === "crc32" ? ROUNDS : Math.max(3, Math.ceil(ROUNDS / 2))); r++) {
    if (checksum === "crc32") {
      results["open+write+fsync (FsFile)"]!.push(await baselineFsFileWrite());
      results["writeFile+fsync"]!.push(await baselineWrite());
    }
    let t0 = performance.now();
    const path = await store.save();
    results[`StateStore.save ${checksum}`]!.push(performance.now() - t0);
    if (checksum === "crc32") {
      results["readFile"]!.push(await baselineRead());
      results["open+read into a preallocated buffer"]!.push(await baselineReadInto());
      const before = state.value;
      t0 = performance.now();
      await store.load(path);
      results["StateStore.load crc32 (verify+load)"]!.push(performance.now() - t0);
      loader.value = state.value;
      state.value = before;
      if ((loader.value.col3 as Float64Array)[7] !== 3.5 + 3) throw new Error("bad load");
    }
    await store.prune(new LatestStatesKeeper(0));
  }
}
await Deno.remove(root, { recursive: true });

const row = (name: string) => {
  const ms = median(results[name]!);
  return { name, ms, mibs: MIB / (ms / 1000) };
};
const base = row("writeFile+fsync");
const read = row("open+read into a preallocated buffer");
console.log(
  `state_compare: ${MIB} MiB in ${COLUMNS} Float64Array columns, medians of ${ROUNDS} ` +
    `(sha256: ${results["StateStore.save sha256"]!.length}), Deno ${Deno.version.deno}, ` +
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
