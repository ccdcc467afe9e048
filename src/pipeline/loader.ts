/**
 * Pipelines as data: a checked JSON description (see description.ts) loaded into a runnable
 * {@linkcode Pipeline}: its pools started, its nodes added, its sources and sinks made, its
 * checkpoint settings turned into run options.
 *
 * @module
 */

import { dirname } from "node:path";
import { optionsOf } from "../_internal/options.ts";
import { InvalidArgumentError } from "../errors.ts";
import { NatsPool } from "../pool/nats/nats_pool.ts";
import { WorkerPool } from "../pool/worker_pool.ts";
import { LatestStatesKeeper } from "../state/keepers.ts";
import { NatsStorage } from "../state/nats_storage.ts";
import { StateStore } from "../state/store.ts";
import type { AnyIterable } from "../stream/sized.ts";
import {
  LOAD_ACTION,
  loadActionOf,
  type PipelineDescription,
  type PoolDescription,
  type SinkDescription,
} from "./description.ts";
import { parseDescription } from "./description_check.ts";
import { pathSegment } from "./description_checker.ts";
import { natsConnectOf } from "./description_nats.ts";
import { baseOf, fileOf, pathOf, referenceUrl } from "./description_paths.ts";
import { PipelineBuildError } from "./errors.ts";
import { type ResolvedFunctions, resolveModules } from "./module_resolution.ts";
import { fileSink, jsonText, lineSource, ndjsonSource } from "./nodes.ts";
import { Pipeline } from "./pipeline.ts";
import type { PipelineRunOptions, SourceInput } from "./run_types.ts";
import type { NodeSpec } from "./spec.ts";

/** A sink's consumer, as `runToCompletion({sinks})` takes it. */
type SinkConsumer = (item: unknown, info: { seq: number }) => unknown;

/** A loaded description: the pipeline, its started pools, and what `run` needs. */
export interface LoadedPipeline extends AsyncDisposable {
  /** The pipeline. */
  pipeline: Pipeline;
  /** The description it was built from. */
  description: PipelineDescription;
  /** Started pools by name (closed by `close()`): a `NatsPool` for `kind: "nats"`. */
  pools: Record<string, WorkerPool | NatsPool>;
  /** Source inputs for `run`, from `description.sources`. */
  sources: Record<string, SourceInput>;
  /** Sink consumers for `runToCompletion`, from `description.sinks`. */
  sinks: Record<string, (item: unknown, info: { seq: number }) => unknown>;
  /**
   * Run options (store, checkpointEvery, keep) from `description.checkpoint`; a NATS store is
   * opened by the load (its writer lock held) and closed by `close()`.
   */
  runOptions: PipelineRunOptions;
  /** Close the pools, the sink files and a NATS checkpoint store. */
  close(): Promise<void>;
}

/** Options of {@linkcode loadPipeline}. */
export interface LoadPipelineOptions {
  /**
   * What module references and paths are relative to: the description file's URL (or path), or
   * a directory's URL ending in `/`. Default: the current directory.
   */
  base?: string | URL;
}

/** The base URL of `options` (checked: a URL or a non-empty path). */
function loadBaseOf(options: LoadPipelineOptions): URL {
  const o = optionsOf(LOAD_ACTION, options, ["base"]);
  if (o.base !== undefined && typeof o.base !== "string" && !(o.base instanceof URL)) {
    throw new InvalidArgumentError(LOAD_ACTION, "base must be a URL or a path", {
      received: o.base,
    });
  }
  if (o.base === "") {
    // An empty path would silently mean the working directory: say so explicitly instead.
    throw new InvalidArgumentError(
      LOAD_ACTION,
      'base must be a non-empty path or URL (omit it, or pass ".", for the working directory)',
      { received: o.base },
    );
  }
  return baseOf(o.base as string | URL | undefined);
}

/**
 * Start one pool of a description. A `kind: "nats"` pool connects to the remote workers' pool
 * (they serve `module`; see {@linkcode PoolDescription.module}).
 */
function startPool(
  name: string,
  pool: PoolDescription,
  base: URL,
  action: string,
): Promise<WorkerPool | NatsPool> {
  if (pool.kind === "nats") {
    const nats = pool.nats!;
    return NatsPool.start({
      ...natsConnectOf(nats, base, `pools${pathSegment(name)}.nats`, action),
      pool: nats.pool,
      size: pool.size,
      depth: nats.depth,
      ackWaitMs: nats.ackWaitMs,
    });
  }
  return WorkerPool.start({
    module: referenceUrl(pool.module, base),
    size: pool.size,
    init: pool.init,
    kind: pool.kind,
    exportName: pool.export,
  });
}

/** Start the description's pools into `pools` (filled as they start, so a failure closes them). */
async function startPools(
  description: PipelineDescription,
  base: URL,
  action: string,
  pools: Record<string, WorkerPool | NatsPool>,
): Promise<void> {
  for (const [name, pool] of Object.entries(description.pools ?? {})) {
    pools[name] = await startPool(name, pool, base, action);
  }
}

/** The pipeline of the description's nodes, their functions and pools resolved. */
function pipelineOf(
  description: PipelineDescription,
  pools: Record<string, WorkerPool | NatsPool>,
  functions: ResolvedFunctions,
): Pipeline {
  const pipeline = new Pipeline(description.options ?? {});
  for (const n of description.nodes) {
    if (n.source) {
      pipeline.source(n.name);
      continue;
    }
    const common = {
      inputs: n.inputs ?? [],
      consume: n.consume,
      produce: n.produce,
      repeat: n.repeat,
      spawn: n.spawn,
      errors: n.errors,
    };
    let spec: NodeSpec;
    if (n.pool !== undefined) {
      spec = {
        ...common,
        pool: pools[n.pool]!,
        ordered: n.ordered,
        chunkSize: n.chunkSize,
        maxInFlight: n.maxInFlight,
      };
    } else if (n.chain !== undefined) {
      spec = {
        ...common,
        chain: n.chain.map((c) => [functions.get(c)!, ...(c.args ?? [])] as const),
      };
    } else {
      const fn = functions.get(n.fn!)!;
      spec = "state" in n ? { ...common, state: n.state, fn } : { ...common, fn };
    }
    for (const k of Object.keys(spec) as (keyof typeof spec)[]) {
      if (spec[k] === undefined) delete spec[k];
    }
    pipeline.node(n.name, spec);
  }
  return pipeline;
}

/** The inputs of the description's sources, as `run` takes them. */
function sourcesOf(
  description: PipelineDescription,
  base: URL,
  functions: ResolvedFunctions,
  action: string,
): Record<string, SourceInput> {
  const sources: Record<string, SourceInput> = {};
  for (const [name, source] of Object.entries(description.sources ?? {})) {
    const where = `source ${JSON.stringify(name)}`;
    if ("lines" in source) {
      sources[name] = lineSource(pathOf(source.lines, base, where, action), {
        follow: source.follow,
      });
    } else if ("ndjson" in source) {
      sources[name] = ndjsonSource(pathOf(source.ndjson, base, where, action), {
        follow: source.follow,
      });
    } else if ("range" in source) {
      const n = source.range;
      sources[name] = function* (position: number) {
        for (let i = position; i < n; i++) yield i;
      };
    } else if ("items" in source) sources[name] = source.items;
    else sources[name] = functions.get(source)! as (position: number) => AnyIterable<unknown>;
  }
  return sources;
}

/** An appending NDJSON sink writing to `path`; its opened file is pushed to `files`. */
async function ndjsonSink(
  name: string,
  sink: { ndjson: string },
  path: string,
  action: string,
  files: Deno.FsFile[],
): Promise<SinkConsumer> {
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    file = await Deno.open(path, { create: true, append: true });
  } catch (error) {
    throw new PipelineBuildError(
      action,
      `sink ${JSON.stringify(name)}: cannot open ${path} for appending (${
        (error as Error).message
      })`,
      { received: sink.ndjson, cause: error },
    );
  }
  files.push(file);
  const enc = new TextEncoder();
  const write = `write to the ndjson sink ${JSON.stringify(name)}`;
  return async (item) => {
    // An item without JSON form is refused (JSON.stringify would write "undefined").
    const bytes = enc.encode(jsonText(write, item) + "\n");
    // write() may write less than asked: loop until the whole line is in the file.
    for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
  };
}

/** The consumer of one sink of the description. */
async function sinkOf(
  name: string,
  sink: SinkDescription,
  base: URL,
  action: string,
  files: Deno.FsFile[],
): Promise<SinkConsumer> {
  const where = `sink ${JSON.stringify(name)}`;
  if ("files" in sink) {
    return fileSink(pathOf(sink.files, base, where, action), { extension: sink.extension });
  }
  if ("ndjson" in sink) {
    return await ndjsonSink(name, sink, pathOf(sink.ndjson, base, where, action), action, files);
  }
  if ("stdout" in sink) {
    const write = `write to the stdout sink ${JSON.stringify(name)}`;
    return (item) => console.log(jsonText(write, item));
  }
  return () => {};
}

/**
 * The description's checkpoint settings as run options. A NATS store is opened here (its lock
 * taken, `keep` as its keeper) and handed to `opened` to be closed with the pipeline.
 */
async function runOptionsOf(
  description: PipelineDescription,
  base: URL,
  action: string,
  opened: StateStore[],
): Promise<PipelineRunOptions> {
  const runOptions: PipelineRunOptions = {};
  const checkpoint = description.checkpoint;
  if (checkpoint) {
    const store = checkpoint.store;
    if (typeof store === "string") {
      runOptions.store = pathOf(store, base, "checkpoint", action);
      if (checkpoint.keep !== undefined) runOptions.keep = checkpoint.keep;
    } else {
      const nats = store.nats;
      const storage = await NatsStorage.connect({
        ...natsConnectOf(nats, base, "checkpoint.store.nats", action),
        bucket: nats.bucket,
        ...(nats.lockTtlMs === undefined ? {} : { lockTtlMs: nats.lockTtlMs }),
      });
      const s = await StateStore.withStorage(storage, {
        keeper: new LatestStatesKeeper(checkpoint.keep ?? 3),
      });
      opened.push(s);
      runOptions.store = s;
    }
    if (checkpoint.every) runOptions.checkpointEvery = checkpoint.every;
  }
  return runOptions;
}

/**
 * Build a pipeline from a description. Module references are resolved against `base` (the
 * description file's URL). The description is checked first (every problem at once, see
 * {@linkcode parseDescription}), then every module is imported (every missing one named at once,
 * with the description file), then the pools are started; close them with `close()` (or
 * `await using`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPipeline } from "@spool/spool";
 *
 * const fns = `export const double = (x) => 2 * x;`;
 * await using loaded = await loadPipeline({
 *   nodes: [
 *     { name: "n", source: true },
 *     { name: "double", inputs: ["n"], fn: { module: "data:text/javascript," + encodeURIComponent(fns), export: "double" } },
 *   ],
 *   sources: { n: { range: 4 } },
 * });
 * const r = await loaded.pipeline.runToCompletion(loaded.sources);
 * assert.ok(r.outputs.double!.join() === "0,2,4,6");
 * ```
 */
export async function loadPipeline(
  input: string | PipelineDescription,
  options: LoadPipelineOptions = {},
): Promise<LoadedPipeline> {
  const base = loadBaseOf(options);
  const file = fileOf(base);
  const action = loadActionOf(file);
  const description = parseDescription(input, { file });
  // Every function first (no pool is started for a description whose modules are missing).
  const functions = await resolveModules(description, base, action);

  const pools: Record<string, WorkerPool | NatsPool> = {};
  const files: Deno.FsFile[] = [];
  const stores: StateStore[] = [];
  const close = async () => {
    for (const f of files.splice(0)) f.close();
    await Promise.all([...Object.values(pools), ...stores.splice(0)].map((p) => p.close()));
  };
  try {
    await startPools(description, base, action, pools);
    const pipeline = pipelineOf(description, pools, functions);
    const sources = sourcesOf(description, base, functions, action);
    const sinks: Record<string, SinkConsumer> = {};
    for (const [name, sink] of Object.entries(description.sinks ?? {})) {
      sinks[name] = await sinkOf(name, sink, base, action, files);
    }
    for (const s of pipeline.sinks()) sinks[s] ??= () => {};
    const runOptions = await runOptionsOf(description, base, action, stores);
    return {
      pipeline,
      description,
      pools,
      sources,
      sinks,
      runOptions,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
