/**
 * spool's main job: aggregate a few million sensor readings, resumably.
 *
 * On first run it generates a dataset of timestamped sensor readings as NDJSON files under
 * `.spool-demo/data/` (deterministic, seeded). It then streams them with `lines` + `ndjson`,
 * `prefetch` and `batch`, aggregates per-sensor statistics (count, mean, min, max, standard
 * deviation, anomalies), shows a progress bar with rate and ETA, and snapshots its state every
 * 2 s through a crash-safe `StateStore`. Kill it (Ctrl-C or `kill -9`) and run it again: it
 * resumes from the newest complete snapshot and says from where. The final summary goes to
 * `.spool-demo/out/summary.json`.
 *
 * ```sh
 * deno run -A examples/demo.ts [--fresh] [--readings=5000000] [--files=20] [--dir=.spool-demo]
 * ```
 *
 * @module
 */

import {
  batch,
  jsonState,
  LatestStatesKeeper,
  lines,
  ndjson,
  PeriodicSaveCondition,
  prefetch,
  progress,
  SnapshotCorruptError,
  StateStore,
} from "../mod.ts";

interface Options {
  dir: string;
  readings: number;
  files: number;
  fresh: boolean;
  saveEveryMs: number;
}

function parseArgs(args: string[]): Options {
  const options: Options = {
    dir: ".spool-demo",
    readings: 5_000_000,
    files: 20,
    fresh: false,
    saveEveryMs: 2000,
  };
  for (const arg of args) {
    const [key, value] = arg.replace(/^--/, "").split("=", 2);
    const int = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) {
        throw new Error(
          `Cannot parse arguments: --${key} needs a positive integer, received ${value}`,
        );
      }
      return n;
    };
    if (key === "fresh") options.fresh = true;
    else if (key === "dir" && value) options.dir = value;
    else if (key === "readings") options.readings = int();
    else if (key === "files") options.files = int();
    else if (key === "save-every-ms") options.saveEveryMs = int();
    else throw new Error(`Cannot parse arguments: unknown option, received ${arg}`);
  }
  return options;
}

// ---------------------------------------------------------------------------------------------
// Dataset

interface DatasetManifest {
  version: 1;
  readings: number;
  sensors: number;
  files: { name: string; readings: number }[];
}

/** A small seeded PRNG (mulberry32): the same dataset on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function ensureDataset(
  dir: string,
  readings: number,
  files: number,
): Promise<DatasetManifest> {
  const dataDir = `${dir}/data`;
  const manifestPath = `${dataDir}/manifest.json`;
  try {
    const manifest = JSON.parse(await Deno.readTextFile(manifestPath)) as DatasetManifest;
    if (manifest.readings === readings && manifest.files.length === files) return manifest;
    console.log(`dataset in ${dataDir} has other parameters: regenerating it`);
    await Deno.remove(dataDir, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const sensors = 64;
  const random = rng(20261122);
  const base = Array.from({ length: sensors }, (_, i) => 15 + (i % 16) + random() * 5);
  const manifest: DatasetManifest = { version: 1, readings, sensors, files: [] };
  const started = performance.now();
  const encoder = new TextEncoder();
  let t = Date.UTC(2026, 0, 1);
  let written = 0;
  for (let f = 0; f < files; f++) {
    const count = Math.floor(readings / files) + (f < readings % files ? 1 : 0);
    const name = `readings-${String(f).padStart(3, "0")}.ndjson`;
    const tmp = `${dataDir}/.${name}.tmp`;
    using file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    let chunk: string[] = [];
    for (let i = 0; i < count; i++) {
      const sensor = (written + i) % sensors;
      t += 25;
      const r = random();
      let line: string;
      if (r < 0.0005) {
        line = `{"t":${t},"sensor":"s-${sensor}","temp":null,"humidity":null}`; // dropout
      } else {
        const spike = r > 0.9995 ? 40 * random() : 0;
        const temp = base[sensor]! + 3 * Math.sin(t / 3.6e6) + (random() - 0.5) * 2 + spike;
        const humidity = 40 + 20 * random();
        line = `{"t":${t},"sensor":"s-${sensor}","temp":${temp.toFixed(3)},"humidity":${
          humidity.toFixed(1)
        }}`;
      }
      chunk.push(line);
      if (chunk.length === 10_000) {
        await writeAll(file, encoder.encode(chunk.join("\n") + "\n"));
        chunk = [];
      }
    }
    if (chunk.length > 0) await writeAll(file, encoder.encode(chunk.join("\n") + "\n"));
    await file.sync();
    await Deno.rename(tmp, `${dataDir}/${name}`);
    written += count;
    manifest.files.push({ name, readings: count });
    Deno.stderr.writeSync(encoder.encode(`\rgenerating dataset: ${f + 1}/${files} files`));
  }
  await Deno.writeTextFile(manifestPath, JSON.stringify(manifest, null, 2));
  console.error(
    `\ngenerated ${readings.toLocaleString("en")} readings in ${files} files under ${dataDir} ` +
      `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  return manifest;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
}

// ---------------------------------------------------------------------------------------------
// Aggregation

interface SensorStats {
  count: number;
  mean: number;
  m2: number; // Welford: sum of squared deviations
  min: number;
  max: number;
  anomalies: number;
}

interface Aggregates {
  sensors: Record<string, SensorStats>;
  invalid: number;
}

interface Reading {
  t: number;
  sensor: string;
  temp: number | null;
  humidity: number | null;
}

function add(agg: Aggregates, reading: Reading): void {
  const temp = reading.temp;
  if (typeof temp !== "number" || typeof reading.sensor !== "string") {
    agg.invalid++;
    return;
  }
  let s = agg.sensors[reading.sensor];
  if (s === undefined) {
    s = { count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity, anomalies: 0 };
    agg.sensors[reading.sensor] = s;
  }
  // An anomaly is a reading far above what the sensor has shown so far.
  if (s.count > 100 && temp > s.mean + 6 * Math.sqrt(s.m2 / s.count)) s.anomalies++;
  s.count++;
  const delta = temp - s.mean;
  s.mean += delta / s.count;
  s.m2 += delta * (temp - s.mean);
  if (temp < s.min) s.min = temp;
  if (temp > s.max) s.max = temp;
}

/** Readings after the first `skip`, skipping whole files without reading them. */
async function* readings(dataDir: string, manifest: DatasetManifest, skip: number) {
  let before = 0;
  for (const file of manifest.files) {
    if (before + file.readings <= skip) {
      before += file.readings;
      continue;
    }
    let index = before;
    for await (const reading of ndjson<Reading>(lines(`${dataDir}/${file.name}`))) {
      if (index++ >= skip) yield reading;
    }
    before += file.readings;
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseArgs(Deno.args);
  const stateDir = `${options.dir}/state`;
  const outDir = `${options.dir}/out`;
  if (options.fresh) await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  const manifest = await ensureDataset(options.dir, options.readings, options.files);

  await using store = new StateStore(stateDir, { keeper: new LatestStatesKeeper(3) });
  const aggregates = store.register(
    "aggregates",
    jsonState<Aggregates>({ sensors: {}, invalid: 0 }),
  );
  const position = store.register("position", jsonState({ done: 0, finished: false }));
  const loaded = await store.load("latest", {
    fallback: true,
    onCorrupt: (error: SnapshotCorruptError) =>
      console.error(`skipping a corrupt snapshot: ${error.message}`),
  });
  const total = manifest.readings;
  if (loaded === undefined) {
    console.log(`starting: ${total.toLocaleString("en")} readings to aggregate`);
  } else {
    const done = position.value.done;
    console.log(
      `resumed from snapshot ${loaded}: ${done.toLocaleString("en")} of ${
        total.toLocaleString("en")
      } readings already aggregated (${(100 * done / total).toFixed(1)}%)`,
    );
  }

  if (!position.value.finished) {
    let interrupted = false;
    const onSignal = () => {
      interrupted = true;
    };
    Deno.addSignalListener("SIGINT", onSignal);
    try {
      const due = new PeriodicSaveCondition(options.saveEveryMs);
      due.shouldSave(); // arm the clock now
      const remaining = progress(
        prefetch(readings(`${options.dir}/data`, manifest, position.value.done), { size: 8192 }),
        { total: total - position.value.done, label: "readings" },
      );
      for await (const chunk of batch(remaining, { size: 5000 })) {
        for (const reading of chunk) add(aggregates.value, reading);
        position.value.done += chunk.length;
        if (interrupted) break;
        if (due.shouldSave()) await store.save({ meta: { done: position.value.done } });
      }
      if (interrupted) {
        const path = await store.save({ meta: { done: position.value.done } });
        console.log(
          `\ninterrupted: state saved at ${
            position.value.done.toLocaleString("en")
          } readings in ${path}; run again to resume`,
        );
        return;
      }
      position.value.finished = true;
      await store.save({ meta: { done: position.value.done, finished: true } });
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
    }
  }

  const summary = summarise(aggregates.value);
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(`${outDir}/summary.json.tmp`, JSON.stringify(summary, null, 2));
  await Deno.rename(`${outDir}/summary.json.tmp`, `${outDir}/summary.json`);
  console.log(
    `done: ${
      summary.readings.toLocaleString("en")
    } valid readings from ${summary.sensors.length} sensors, ` +
      `${summary.invalid} invalid, ${summary.anomalies} anomalies`,
  );
  console.log("hottest sensors (mean °C):");
  for (const s of [...summary.sensors].sort((a, b) => b.mean - a.mean).slice(0, 5)) {
    console.log(
      `  ${s.sensor.padEnd(6)} mean ${s.mean.toFixed(2)}  sd ${s.sd.toFixed(2)}  min ${
        s.min.toFixed(2)
      }  max ${s.max.toFixed(2)}  anomalies ${s.anomalies}`,
    );
  }
  console.log(
    `summary: ${outDir}/summary.json; snapshots: ${stateDir} (run with --fresh to start over)`,
  );
}

function summarise(agg: Aggregates) {
  const sensors = Object.entries(agg.sensors)
    .map(([sensor, s]) => ({
      sensor,
      count: s.count,
      mean: s.mean,
      sd: s.count > 1 ? Math.sqrt(s.m2 / (s.count - 1)) : 0,
      min: s.min,
      max: s.max,
      anomalies: s.anomalies,
    }))
    .sort((a, b) => a.sensor.localeCompare(b.sensor, "en", { numeric: true }));
  return {
    readings: sensors.reduce((n, s) => n + s.count, 0),
    invalid: agg.invalid,
    anomalies: sensors.reduce((n, s) => n + s.anomalies, 0),
    sensors,
  };
}

if (import.meta.main) await main();
