/**
 * spool's main job: a few million sensor readings through a checkpointed pipeline with a pooled
 * stateful node, then a stateful loop that buffers them per site into part files — resumable
 * after Ctrl-C or `kill -9` at any moment, with the same outputs as an uninterrupted run.
 *
 * - First run: generates a deterministic NDJSON dataset under `<dir>/data/` (some dropouts and
 *   malformed lines included).
 * - Pipeline (`Pipeline`): `lines` source → `parse` (bad lines go to the dead letters) → `enrich`
 *   (a `WorkerPool` whose workers build calibration tables once, in `init`: calibrated
 *   temperature, dew point, anomaly score) → `stats` (stateful: per-sensor statistics) →
 *   `chunk` (stateful: packs readings into columnar chunks). Barrier-aligned checkpoints through
 *   the pipeline's `StateStore`; the sink writes chunk `c` to `<dir>/spool/chunk-<c>.bin`
 *   (temporary file + rename: idempotent).
 * - Loop (`StatefulLoop`), running at the same time: reads chunk files in order as `Frame`s,
 *   buffers them per site with a memory limit and writes each flush to
 *   `<dir>/out/parts/<site>-part-<seq>.bin` (idempotent by flush seq). Its own checkpoints.
 * - At the end: `<dir>/out/summary.json`, `<dir>/out/dead-letters.ndjson`.
 *
 * ```sh
 * deno run -A examples/demo.ts [--fresh] [--readings 3000000] [--files 12] [--dir .spool-demo]
 *   [--save-every-ms 2000] [--part-mb 8] [--workers 2]
 *   [--nats nats://127.0.0.1:4222 [--nats-pool spool-demo] [--nats-bucket spool-demo]
 *    [--nats-creds FILE]]
 * ```
 *
 * With `--nats`, `enrich` runs on remote workers of that NATS pool, and the pipeline's and the
 * loop's checkpoints go to NATS buckets `<bucket>` and `<bucket>-loop` (see demo_nats.ts), so a
 * killed run resumes on another host that has the inputs, the spool and the outputs; the
 * outputs are byte-identical to a run without it. Credentials come from `SPOOL_NATS_TOKEN`, or
 * `SPOOL_NATS_USER` + `SPOOL_NATS_PASS`, or `--nats-creds`.
 *
 * (`--flag value` or `--flag=value`.)
 *
 * See docs/demo.md for what to try and why the outputs survive any kill.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  AbortedError,
  Frame,
  InvalidArgumentError,
  lines,
  Pipeline,
  type PipelineEvent,
  progress,
  type SinkEntry,
  StatefulLoop,
  WorkerPool,
} from "../mod.ts";
import {
  type DemoNats,
  demoNatsOf,
  loopBucketOf,
  openNatsStore,
  startRemotePool,
  wipeNatsStore,
} from "./demo_nats.ts";
import type * as Worker from "./demo_worker.ts";
import { DEMO_CALIBRATION } from "./demo_worker.ts";
import type { EndMarker, EnrichedReading, ParsedReading } from "./demo_worker.ts";
import { rng } from "./prng.ts";

interface Options {
  dir: string;
  readings: number;
  files: number;
  fresh: boolean;
  saveEveryMs: number;
  partMb: number;
  workers: number;
  /** With `--nats`: remote workers, and the pipeline's and the loop's checkpoints in NATS. */
  nats?: DemoNats;
}

const USAGE =
  "usage: deno run -A examples/demo.ts [--fresh] [--readings N] [--files N] [--dir DIR]\n" +
  "         [--save-every-ms N] [--part-mb X] [--workers N]\n" +
  "         [--nats URL [--nats-pool NAME] [--nats-bucket NAME] [--nats-creds FILE]]\n" +
  "         (--flag value or --flag=value; NATS credentials: SPOOL_NATS_TOKEN, or\n" +
  "         SPOOL_NATS_USER + SPOOL_NATS_PASS, in the environment, or --nats-creds)";

/**
 * The demo's command line (`node:util` `parseArgs`: `--flag value` and `--flag=value`); an
 * unknown flag, a missing or bad value is an {@linkcode InvalidArgumentError}.
 */
export function parseDemoArgs(args: string[]): Options {
  const action = "parse the demo's arguments";
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        fresh: { type: "boolean" },
        dir: { type: "string" },
        readings: { type: "string" },
        files: { type: "string" },
        "save-every-ms": { type: "string" },
        "part-mb": { type: "string" },
        workers: { type: "string" },
        nats: { type: "string" },
        "nats-pool": { type: "string" },
        "nats-bucket": { type: "string" },
        "nats-creds": { type: "string" },
      },
    }));
  } catch (error) {
    throw new InvalidArgumentError(action, (error as Error).message, {
      received: args,
      cause: error,
    });
  }
  const num = (key: string, fallback: number, integer: boolean): number => {
    const value = values[key] as string | undefined;
    if (value === undefined) return fallback;
    const n = value.trim() === "" ? NaN : Number(value);
    if (!(n > 0) || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(
        action,
        `--${key} must be a positive ${integer ? "integer" : "number"}`,
        { received: value },
      );
    }
    return n;
  };
  const dir = values.dir as string | undefined;
  if (dir !== undefined && dir === "") {
    throw new InvalidArgumentError(action, "--dir must be a non-empty path", { received: dir });
  }
  const nats = demoNatsOf(action, values);
  return {
    ...(nats === undefined ? {} : { nats }),
    dir: dir ?? ".spool-demo",
    readings: num("readings", 3_000_000, true),
    files: num("files", 12, true),
    fresh: values.fresh === true,
    saveEveryMs: num("save-every-ms", 2000, true),
    partMb: num("part-mb", 8, false),
    workers: num("workers", 2, true),
  };
}

// ---------------------------------------------------------------------------------------------
// Dataset

const SENSORS = 64;

interface DatasetManifest {
  version: 2;
  readings: number;
  sensors: number;
  files: { name: string; readings: number }[];
}

/** The dataset's manifest, generating the dataset first if it is missing or has other sizes. */
async function ensureDataset(
  dir: string,
  readings: number,
  files: number,
): Promise<{ manifest: DatasetManifest; generated: boolean }> {
  const dataDir = `${dir}/data`;
  const manifestPath = `${dataDir}/manifest.json`;
  try {
    const manifest = JSON.parse(await Deno.readTextFile(manifestPath)) as DatasetManifest;
    if (
      manifest.version === 2 && manifest.readings === readings && manifest.files.length === files
    ) {
      return { manifest, generated: false };
    }
    console.log(`dataset in ${dataDir} has other parameters: regenerating it`);
    await Deno.remove(dataDir, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const random = rng(20261122);
  const base = Array.from({ length: SENSORS }, (_, i) => 15 + (i % 16) + random() * 5);
  const manifest: DatasetManifest = { version: 2, readings, sensors: SENSORS, files: [] };
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
      const sensor = (written + i) % SENSORS;
      t += 25;
      const r = random();
      let line: string;
      if (r < 0.0005) {
        line = `{"t":${t},"sensor":"s-${sensor}","temp":null,"humidity":null}`; // dropout
      } else if (r < 0.00055) {
        line = `{"t":${t},"sensor":"s-${sensor}","temp":`; // torn line: malformed JSON
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
  return { manifest, generated: true };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
}

/** Write `bytes` to `path` through a temporary file and a rename: all or nothing. */
async function writeAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp`;
  if (typeof bytes === "string") await Deno.writeTextFile(tmp, bytes);
  else await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

// ---------------------------------------------------------------------------------------------
// Columnar chunk / part files: a JSON header line, then each column's raw bytes (8-byte aligned).

const SITES = ["north", "east", "south", "west"] as const;
const CHUNK_ROWS = 8192;

interface Columns {
  t: Float64Array;
  s: Uint16Array;
  cal: Float32Array;
  humidity: Float32Array;
  dew: Float32Array;
  score: Float32Array;
}
const COLUMN_TYPES = {
  t: Float64Array,
  s: Uint16Array,
  cal: Float32Array,
  humidity: Float32Array,
  dew: Float32Array,
  score: Float32Array,
} as const;
type ColumnName = keyof Columns;
type FrameColumns = ConstructorParameters<typeof Frame>[0];
const NAMES = Object.keys(COLUMN_TYPES) as ColumnName[];

function emptyColumns(rows: number): Columns {
  return {
    t: new Float64Array(rows),
    s: new Uint16Array(rows),
    cal: new Float32Array(rows),
    humidity: new Float32Array(rows),
    dew: new Float32Array(rows),
    score: new Float32Array(rows),
  };
}

function encodeFrame(frame: Frame): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ format: "spool-demo-columns", version: 1, rows: frame.length, names: NAMES }) +
      "\n",
  );
  const pad = (n: number) => (n + 7) & ~7;
  let size = pad(header.length);
  for (const n of NAMES) size += pad((frame.columns[n] as ArrayBufferView).byteLength);
  const out = new Uint8Array(size);
  out.set(header);
  let at = pad(header.length);
  for (const n of NAMES) {
    const c = frame.columns[n] as ArrayBufferView;
    out.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at);
    at += pad(c.byteLength);
  }
  return out;
}

function decodeFrame(bytes: Uint8Array): Frame {
  const nl = bytes.indexOf(10);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, nl))) as { rows: number };
  const pad = (n: number) => (n + 7) & ~7;
  let at = pad(nl + 1);
  const columns: Record<string, ArrayBufferView> = {};
  for (const n of NAMES) {
    const Type = COLUMN_TYPES[n];
    const len = header.rows * Type.BYTES_PER_ELEMENT;
    columns[n] = new Type(bytes.slice(at, at + len).buffer);
    at += pad(len);
  }
  return new Frame(columns as unknown as FrameColumns);
}

/** The rows of `frame` whose sensor belongs to each site (sensor index modulo 4). */
function splitBySite(frame: Frame): (Frame | undefined)[] {
  const s = frame.columns.s as Uint16Array;
  const counts = [0, 0, 0, 0];
  for (let r = 0; r < s.length; r++) counts[s[r]! % 4]!++;
  const parts = counts.map((n) => emptyColumns(n));
  const at = [0, 0, 0, 0];
  for (let r = 0; r < s.length; r++) {
    const site = s[r]! % 4;
    const p = parts[site]!;
    const k = at[site]!++;
    for (const n of NAMES) p[n][k] = (frame.columns[n] as Columns[ColumnName])[r]!;
  }
  return parts.map((
    p,
    i,
  ) => (counts[i]! > 0 ? new Frame(p as unknown as FrameColumns) : undefined));
}

// ---------------------------------------------------------------------------------------------
// Pipeline nodes

type SourceItem = { i: number; line: string } | EndMarker;

/** The dataset's lines from `position` on (whole files skipped). */
async function* datasetLines(
  dataDir: string,
  manifest: DatasetManifest,
  position: number,
  signal: AbortSignal,
): AsyncGenerator<SourceItem> {
  let before = 0;
  for (const file of manifest.files) {
    if (before + file.readings <= position) {
      before += file.readings;
      continue;
    }
    let i = before;
    for await (const line of lines(`${dataDir}/${file.name}`, { signal })) {
      if (i >= position) yield { i, line };
      i++;
    }
    before += file.readings;
  }
}

/**
 * The source: `items` (the lines from `position`), then the end marker at position `total`
 * (not again when `position` is past it). Progress wraps the lines only, so its total and its
 * count are lines, not lines + 1.
 */
async function* withEnd(
  items: AsyncIterable<SourceItem>,
  position: number,
  total: number,
): AsyncGenerator<SourceItem> {
  yield* items;
  if (position <= total) yield { end: true };
}

/** Parse and validate a line; throws for malformed lines and dropouts (→ dead letters). */
function parse(item: SourceItem): ParsedReading | EndMarker {
  if ("end" in item) return item;
  const r = JSON.parse(item.line) as Record<string, unknown>;
  const sensor = typeof r.sensor === "string" ? Number(r.sensor.slice(2)) : NaN;
  if (!Number.isInteger(sensor) || sensor < 0 || sensor >= SENSORS) {
    throw new Error(`unknown sensor ${JSON.stringify(r.sensor)}`);
  }
  if (typeof r.temp !== "number" || typeof r.humidity !== "number" || typeof r.t !== "number") {
    throw new Error(`dropout: ${r.sensor} sent no temperature/humidity`);
  }
  return { i: item.i, t: r.t, s: sensor, temp: r.temp, humidity: r.humidity };
}

interface SensorStats {
  count: number;
  mean: number;
  m2: number; // Welford: sum of squared deviations of the calibrated temperature
  min: number;
  max: number;
  dewSum: number;
  anomalies: number;
}

interface Stats {
  sensors: Record<string, SensorStats>;
  valid: number;
}

const ANOMALY_SCORE = 5;

/** The stateful aggregating node: per-sensor statistics of the enriched readings. */
function aggregate(st: Stats, r: EnrichedReading | EndMarker): EnrichedReading | EndMarker {
  if ("end" in r) return r;
  const key = `s-${r.s}`;
  let s = st.sensors[key];
  if (s === undefined) {
    s = { count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity, dewSum: 0, anomalies: 0 };
    st.sensors[key] = s;
  }
  s.count++;
  const delta = r.cal - s.mean;
  s.mean += delta / s.count;
  s.m2 += delta * (r.cal - s.mean);
  if (r.cal < s.min) s.min = r.cal;
  if (r.cal > s.max) s.max = r.cal;
  s.dewSum += r.dew;
  if (r.score > ANOMALY_SCORE) s.anomalies++;
  st.valid++;
  return r;
}

type ChunkState = Columns & { next: number; n: number };
type ChunkOut = { chunk: number; frame: Frame } | { end: true; chunks: number } | null;

/** The stateful packing node: readings into columnar chunks of CHUNK_ROWS rows. */
function pack(st: ChunkState, r: EnrichedReading | EndMarker): ChunkOut {
  if ("end" in r) {
    if (st.n > 0) {
      const out = { chunk: st.next++, frame: take(st) };
      return Object.assign(out, { last: st.next });
    }
    return { end: true, chunks: st.next };
  }
  const k = st.n++;
  st.t[k] = r.t;
  st.s[k] = r.s;
  st.cal[k] = r.cal;
  st.humidity[k] = r.humidity;
  st.dew[k] = r.dew;
  st.score[k] = r.score;
  if (st.n < CHUNK_ROWS) return null;
  return { chunk: st.next++, frame: take(st) };
}

function take(st: ChunkState): Frame {
  const columns = {} as Record<ColumnName, ArrayBufferView>;
  for (const n of NAMES) columns[n] = st[n].slice(0, st.n);
  st.n = 0;
  return new Frame(columns as unknown as FrameColumns);
}

// ---------------------------------------------------------------------------------------------
// The spool between the pipeline and the loop: chunk files written by the pipeline's sink,
// read in order by the loop while the pipeline goes on.

class Spool {
  version = 0;
  total: number | undefined;
  failed: unknown;
  #waiters: (() => void)[] = [];
  constructor(readonly dir: string) {}
  path(c: number): string {
    return `${this.dir}/chunk-${String(c).padStart(6, "0")}.bin`;
  }
  notify(): void {
    this.version++;
    for (const w of this.#waiters.splice(0)) w();
  }
  async changedSince(version: number): Promise<void> {
    if (this.version !== version) return;
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
  async readTotal(): Promise<void> {
    try {
      this.total = JSON.parse(await Deno.readTextFile(`${this.dir}/done.json`)).chunks;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
}

const TICK = Symbol("tick");

/** Chunk files from `start` on, waiting for the pipeline to write them. */
async function* chunkFiles(
  spool: Spool,
  start: number,
  signal: AbortSignal,
): AsyncGenerator<Frame | typeof TICK> {
  for (let c = start;; c++) {
    for (;;) {
      // A tick lets the loop see the abort between two items: it checkpoints, then stops.
      if (signal.aborted) yield TICK;
      const version = spool.version;
      const bytes = await Deno.readFile(spool.path(c)).catch((error) => {
        if (error instanceof Deno.errors.NotFound) return undefined;
        throw error;
      });
      if (bytes !== undefined) {
        yield decodeFrame(bytes);
        break;
      }
      if (spool.total !== undefined && c >= spool.total) return;
      if (spool.failed !== undefined) throw spool.failed;
      await spool.changedSince(version);
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseDemoArgs(Deno.args);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    console.error(`${error.message}\n${USAGE}`);
    Deno.exit(2);
  }
  const started = performance.now();
  const stateDir = `${options.dir}/state`;
  const outDir = `${options.dir}/out`;
  const partsDir = `${outDir}/parts`;
  const spool = new Spool(`${options.dir}/spool`);
  const wipe = async () => {
    for (const d of [stateDir, outDir, spool.dir]) {
      await Deno.remove(d, { recursive: true }).catch(() => {});
    }
    if (options.nats) await wipeNatsStore(options.nats);
  };
  if (options.fresh) await wipe();
  const { manifest, generated } = await ensureDataset(
    options.dir,
    options.readings,
    options.files,
  );
  if (generated && !options.fresh) await wipe(); // state of another dataset
  for (const d of [stateDir, partsDir, spool.dir]) await Deno.mkdir(d, { recursive: true });
  await checkMode(stateDir, options.nats);
  await spool.readTotal();
  const total = manifest.readings;

  // Dead letters are logged as they happen (a synchronous write each: in the kernel before any
  // checkpoint covering them) and deduplicated by line at the end (replays log them again).
  const deadLog = `${stateDir}/dead-letters.log`;
  using deadFile = await Deno.open(deadLog, { append: true, create: true });
  const encoder = new TextEncoder();
  let deadThisRun = 0;
  let lastCheckpoint: Extract<PipelineEvent, { type: "checkpoint" }> | undefined;

  // The pool: each worker builds its calibration tables once (in `init`). With --nats, the
  // workers are remote processes serving demo_worker.ts (same calibration: its default).
  await using pool = options.nats
    ? await startRemotePool(options.nats, options.workers)
    : await WorkerPool.start<typeof Worker>({
      module: new URL("./demo_worker.ts", import.meta.url),
      size: options.workers,
      init: DEMO_CALIBRATION,
    });
  // The pipeline's checkpoints: a directory, or with --nats a StateStore in the NATS bucket.
  await using natsStore = options.nats ? await openNatsStore(options.nats) : undefined;
  const storeName = options.nats ? `NATS bucket ${options.nats.bucket}` : `${stateDir}/pipeline`;

  const p = new Pipeline();
  p.source("lines");
  p.node("parse", { inputs: ["lines"], fn: parse, errors: "dead-letter" });
  // Over NATS, bigger messages: 1024 readings per task ran about 2x faster than "auto" here.
  p.node("enrich", { inputs: ["parse"], pool, chunkSize: options.nats ? 1024 : "auto" });
  p.node("stats", {
    inputs: ["enrich"],
    state: { sensors: {}, valid: 0 } as Stats,
    fn: aggregate,
  });
  p.node("chunk", {
    inputs: ["stats"],
    state: { next: 0, n: 0, ...emptyColumns(CHUNK_ROWS) } as ChunkState,
    fn: pack,
  });

  const logger = (e: PipelineEvent) => {
    if (e.type === "node-error" && e.policy === "dead-letter") {
      const item = e.item as { i: number; line: string };
      const error = e.error instanceof Error ? e.error.message : String(e.error);
      deadFile.writeSync(
        encoder.encode(JSON.stringify({ i: item.i, line: item.line, error }) + "\n"),
      );
      deadThisRun++;
    } else if (e.type === "checkpoint") {
      lastCheckpoint = e;
    } else if (e.type === "run-start") {
      if (e.resumed) {
        const read = Math.min(e.positions?.lines ?? 0, total);
        console.log(
          `pipeline: resumed from checkpoint #${e.checkpoint} in ${storeName}: ` +
            `${read.toLocaleString("en")} of ${total.toLocaleString("en")} lines already ` +
            `processed (${(100 * read / total).toFixed(1)}%)`,
        );
        // Resumed elsewhere without the shared pieces, the loop would wait for chunks forever.
        // (Checked once the nodes have their restored states, right after this event.)
        deadBefore = e.deadLetters ?? 0;
        queueMicrotask(checkShared);
        return;
      } else console.log(`pipeline: starting: ${total.toLocaleString("en")} lines to process`);
      openGate();
    }
  };
  let shareProblem: string | undefined;
  const refused = new AbortController();
  const checkShared = () => {
    try {
      const chunkState = run.state<ChunkState | undefined>("chunk");
      if (chunkState === undefined) return void setTimeout(checkShared, 0);
      shareProblem = missingShared({
        spool,
        partsDir,
        deadLog,
        pipelineChunks: chunkState.next,
        loopCursor: cursor.next,
        deadLetters: deadBefore,
        parts: written.files.map((f) => f.file),
      });
    } catch (error) {
      // (a failing logger would be ignored by the run: never leave the loop waiting)
      shareProblem = `its contents cannot be checked (${(error as Error).message})`;
    }
    if (shareProblem !== undefined) {
      // Ended without a checkpoint (an abort, not a stop), before the loop starts: the
      // checkpoints stay as they were for a run in the right directory.
      interrupted = true;
      refused.abort();
      controller.abort();
    }
    openGate();
  };
  let deadBefore = 0;
  // The loop starts once the pipeline has resumed and the directory was found complete.
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));

  // The loop's checkpoints: a directory, or with --nats a StateStore in its own NATS bucket (the
  // loop leaves a store it was given open: `await using` closes it after the loop).
  await using loopStore = options.nats
    ? await openNatsStore(options.nats, loopBucketOf(options.nats))
    : undefined;
  const loopName = options.nats ? `NATS bucket ${loopBucketOf(options.nats)}` : `${stateDir}/loop`;
  await using loop = await StatefulLoop.open(loopStore ?? `${stateDir}/loop`, {
    memoryLimitMb: options.partMb,
    checkpoint: { everyMs: options.saveEveryMs, afterFlush: true, atEnd: true },
  });
  const cursor = loop.state("cursor", { next: 0 }); // next chunk file to read
  const written = loop.state("parts", {
    rows: 0,
    files: [] as { site: string; seq: number; rows: number; file: string }[],
  });
  if (loop.resumed) {
    console.log(
      `loop: resumed from its checkpoint in ${loopName}: ${cursor.next} chunks read, ` +
        `${written.files.length} parts written, ${
          loop.sites.reduce((n, s) => n + s.bytes, 0).toLocaleString("en")
        } bytes buffered`,
    );
  }

  const controller = new AbortController();
  let interrupted = false;
  const run = p.run({
    lines: (position, { signal }) =>
      withEnd(
        progress(datasetLines(`${options.dir}/data`, manifest, position, signal), {
          total: Math.max(0, total - position),
          label: "readings",
        }),
        position,
        total,
      ),
  }, {
    store: natsStore ?? `${stateDir}/pipeline`,
    checkpointEvery: { ms: options.saveEveryMs },
    logger,
    signal: refused.signal,
  });
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    console.error("\nCtrl-C: stopping (last checkpoints)...");
    run.stop().catch(() => {});
    controller.abort();
    spool.notify();
  };
  Deno.addSignalListener("SIGINT", onSignal);

  // The pipeline's sink: chunk `c` to its own file, temp + rename (idempotent by chunk number).
  const sinkTask = (async () => {
    try {
      for await (const { value } of run.entries("chunk") as AsyncIterable<SinkEntry<ChunkOut>>) {
        if (value === null) continue;
        if ("frame" in value) {
          await writeAtomic(spool.path(value.chunk), encodeFrame(value.frame));
        }
        const chunks = "end" in value ? value.chunks : (value as { last?: number }).last;
        if (chunks !== undefined) {
          await writeAtomic(`${spool.dir}/done.json`, JSON.stringify({ chunks }));
          spool.total = chunks;
        }
        spool.notify();
      }
      await run.done;
    } catch (error) {
      spool.failed = error;
      spool.notify();
      throw error;
    } finally {
      openGate(); // a run that ended before its start event: the loop sees how it ended
    }
  })();

  // The loop: chunk files in order, buffered per site, flushed parts written by flush seq.
  const loopTask = (async () => {
    await gate;
    if (shareProblem !== undefined) return;
    let seen = loop.checkpoints;
    let deletedUpTo = cursor.next;
    const steps = loop.iterate(chunkFiles(spool, cursor.next, controller.signal), {
      skipCompleted: false,
      signal: controller.signal,
    });
    for await (const step of steps) {
      if (!step.final && step.item === TICK) continue;
      if (loop.checkpoints !== seen) {
        // Chunks before the cursor are covered by the loop's checkpoint: no longer needed.
        seen = loop.checkpoints;
        for (; deletedUpTo < cursor.next; deletedUpTo++) {
          await Deno.remove(spool.path(deletedUpTo)).catch(() => {});
        }
      }
      const bySite = step.final ? [] : splitBySite(step.item as Frame);
      if (!step.final) cursor.next++;
      for (const [k, site] of SITES.entries()) {
        const frame = bySite[k];
        const flush = loop.buffer(site, frame ? { readings: frame } : undefined);
        if (flush === undefined) continue;
        const file = `${site}-part-${String(flush.seq).padStart(4, "0")}.bin`;
        await writeAtomic(`${partsDir}/${file}`, encodeFrame(flush.frames.readings));
        if (!written.files.some((f) => f.file === file)) {
          written.files.push({ site, seq: flush.seq, rows: flush.frames.readings.length, file });
          written.rows += flush.frames.readings.length;
        }
      }
    }
  })();

  let stopped = false;
  try {
    const [sink, looped] = await Promise.allSettled([sinkTask, loopTask]);
    for (const r of [sink, looped]) {
      if (r.status === "rejected") {
        if (interrupted && r.reason instanceof AbortedError) stopped = true;
        else throw r.reason;
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  if (shareProblem !== undefined) {
    throw new InvalidArgumentError("resume the demo", shareProblem, { received: options.dir });
  }
  if (stopped || interrupted && spool.total === undefined) {
    console.log(
      `interrupted: pipeline checkpoint #${lastCheckpoint?.checkpoint ?? "?"} at ${
        (lastCheckpoint?.positions.lines ?? 0).toLocaleString("en")
      } lines (${lastCheckpoint?.path ?? storeName}); loop at chunk ${cursor.next}` +
        `, position ${loop.position}. Run again to resume.`,
    );
    return;
  }

  // Both phases are done: final outputs.
  for await (const e of Deno.readDir(spool.dir)) {
    if (e.name.startsWith("chunk-")) await Deno.remove(`${spool.dir}/${e.name}`);
  }
  const dead = new Map<number, string>();
  for (const line of (await Deno.readTextFile(deadLog)).split("\n")) {
    try {
      const d = JSON.parse(line) as { i: number };
      dead.set(d.i, line);
    } catch { /* a torn last line of a killed run, logged again by the replay */ }
  }
  const deadLines = [...dead.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l + "\n");
  await writeAtomic(`${outDir}/dead-letters.ndjson`, deadLines.join(""));
  const stats = run.state<Stats>("stats");
  const summary = summarise(stats, dead.size, written);
  await writeAtomic(`${outDir}/summary.json`, JSON.stringify(summary, null, 2) + "\n");

  const seconds = (performance.now() - started) / 1000;
  console.log(
    `done in ${seconds.toFixed(1)} s: ${summary.readings.toLocaleString("en")} valid readings ` +
      `from ${summary.sensors.length} sensors, ${summary.deadLetters} dead letters ` +
      `(${deadThisRun} in this run), ${summary.anomalies} anomalies; ` +
      `${summary.parts.length} parts, ${written.rows.toLocaleString("en")} rows`,
  );
  console.log("hottest sensors (calibrated mean °C):");
  for (const s of [...summary.sensors].sort((a, b) => b.mean - a.mean).slice(0, 3)) {
    console.log(
      `  ${s.sensor.padEnd(6)} mean ${s.mean.toFixed(2)}  sd ${s.sd.toFixed(2)}  dew ${
        s.dew.toFixed(2)
      }  max ${s.max.toFixed(2)}  anomalies ${s.anomalies}`,
    );
  }
  console.log(`outputs:
  summary      ${outDir}/summary.json
  parts        ${partsDir}/ (${summary.parts.length} files: <site>-part-<seq>.bin)
  dead letters ${outDir}/dead-letters.ndjson (${summary.deadLetters})
  checkpoints  ${
    options.nats
      ? `NATS buckets ${options.nats.bucket} and ${loopBucketOf(options.nats)}`
      : `${stateDir}/`
  } (run with --fresh to start over)`);
}

/**
 * What a resumed run needs in `--dir` besides its checkpoints (docs/demo.md, "Resuming on another
 * host"): the chunks the pipeline's checkpoint covers that the loop has not read, the dead letters
 * the checkpoint counts, the parts the loop's state lists. What is missing, or undefined.
 */
function missingShared(at: {
  spool: Spool;
  partsDir: string;
  deadLog: string;
  pipelineChunks: number;
  loopCursor: number;
  deadLetters: number;
  parts: string[];
}): string | undefined {
  const exists = (path: string) => {
    try {
      Deno.statSync(path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  };
  const missing: string[] = [];
  if (at.loopCursor < at.pipelineChunks && !exists(at.spool.path(at.loopCursor))) {
    missing.push(
      `chunks ${at.loopCursor} to ${at.pipelineChunks - 1} in ${at.spool.dir} (the pipeline's ` +
        "checkpoint is past them, the loop has not read them)",
    );
  }
  const logged = new Set<number>();
  for (const line of Deno.readTextFileSync(at.deadLog).split("\n")) {
    try {
      logged.add((JSON.parse(line) as { i: number }).i);
    } catch { /* a torn last line */ }
  }
  if (logged.size < at.deadLetters) {
    missing.push(`${at.deadLetters - logged.size} of the dead letters logged in ${at.deadLog}`);
  }
  const gone = at.parts.filter((f) => !exists(`${at.partsDir}/${f}`));
  if (gone.length > 0) missing.push(`${gone.length} part files in ${at.partsDir}`);
  if (missing.length === 0) return undefined;
  return `this directory lacks what its checkpoints need: ${missing.join("; ")}. Copy spool/, ` +
    "out/ and state/dead-letters.log from the run's old directory (docs/demo.md: resuming on " +
    "another host), or run with --fresh";
}

/**
 * The checkpoints of `stateDir` belong to one kind of run: local stores, or NATS buckets (the
 * pipeline's and the loop's). Switching (which would resume the loop's checkpoints with another
 * pipeline's) needs `--fresh`.
 */
async function checkMode(stateDir: string, nats: DemoNats | undefined): Promise<void> {
  const path = `${stateDir}/mode.json`;
  const mode = JSON.stringify(
    nats
      ? { pipelineStore: "nats", loopStore: "nats", servers: nats.servers, bucket: nats.bucket }
      : {
        pipelineStore: "local",
      },
  );
  let found: string | undefined;
  try {
    found = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (found === undefined) await writeAtomic(path, mode);
  else if (found !== mode) {
    throw new InvalidArgumentError(
      "resume the demo",
      `the checkpoints in ${stateDir} are of another kind of run (${found}): run with --fresh ` +
        "to start over",
      { received: mode },
    );
  }
}

function summarise(
  st: Stats,
  deadLetters: number,
  parts: { rows: number; files: { site: string; seq: number; rows: number; file: string }[] },
) {
  const sensors = Object.entries(st.sensors)
    .map(([sensor, s]) => ({
      sensor,
      count: s.count,
      mean: s.mean,
      sd: s.count > 1 ? Math.sqrt(s.m2 / (s.count - 1)) : 0,
      min: s.min,
      max: s.max,
      dew: s.dewSum / s.count,
      anomalies: s.anomalies,
    }))
    .sort((a, b) => a.sensor.localeCompare(b.sensor, "en", { numeric: true }));
  return {
    readings: st.valid,
    deadLetters,
    anomalies: sensors.reduce((n, s) => n + s.anomalies, 0),
    sensors,
    parts: [...parts.files].sort((a, b) => a.file.localeCompare(b.file)),
  };
}

if (import.meta.main) await main();
