/**
 * Pipelines as data: a JSON description (nodes referencing module URLs and export names, their
 * inputs, ratios and pools; sources; sinks; checkpoint settings) loaded into a runnable
 * {@linkcode Pipeline}.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { WorkerPool } from "../pool/worker_pool.ts";
import type { AnyIterable } from "../stream/sized.ts";
import { PipelineBuildError } from "./errors.ts";
import { fileSink, lineSource, ndjsonSource } from "./nodes.ts";
import { Pipeline } from "./pipeline.ts";
import type { RunOptions, SourceInput } from "./run.ts";
import type { NodeFunction, NodeSpec } from "./spec.ts";

/** A function found in a module: `{module, export, args?}` (args only inside a chain). */
export interface FunctionRef {
  /** Module URL or path, relative to the description's location. */
  module: string;
  /** Export name (default `"default"`). */
  export?: string;
  /** Extra arguments (chain entries only). */
  args?: unknown[];
}

/** A node of a JSON pipeline description. */
export interface NodeDescription {
  /** Node name. */
  name: string;
  /** An entry point (no inputs). */
  source?: boolean;
  /** Upstream nodes, in order. */
  inputs?: string[];
  /** The function (function and stateful nodes). */
  fn?: FunctionRef;
  /** The functions of a chain node. */
  chain?: FunctionRef[];
  /** Name of a pool in `pools` (pool nodes). */
  pool?: string;
  /** The initial state (stateful nodes; JSON). */
  state?: unknown;
  /** Inputs per call. */
  consume?: number;
  /** Outputs per call. */
  produce?: number;
  /** Repeat the result instead of splitting it. */
  repeat?: boolean;
  /** Calls in flight. */
  spawn?: number;
  /** Error policy. */
  errors?: "fail" | "dead-letter";
  /** Pool nodes: results in input order. */
  ordered?: boolean;
}

/** How a source gets its items. */
export type SourceDescription =
  | { lines: string; follow?: boolean }
  | { ndjson: string; follow?: boolean }
  | { range: number }
  | { items: unknown[] }
  | FunctionRef;

/** Where a sink's items go. */
export type SinkDescription =
  | { files: string; extension?: string }
  | { ndjson: string }
  | { stdout: true }
  | { discard: true };

/** A pool of a description. */
export interface PoolDescription {
  /** Worker module (relative to the description). */
  module: string;
  /** Workers (default: hardware concurrency). */
  size?: number;
  /** Init arguments. */
  init?: unknown;
  /** `"worker"` or `"process"`. */
  kind?: "worker" | "process";
  /** Export holding the worker definition. */
  export?: string;
}

/** A whole pipeline as JSON. */
export interface PipelineDescription {
  /** Nodes, in an order where inputs come first. */
  nodes: NodeDescription[];
  /** Pools by name. */
  pools?: Record<string, PoolDescription>;
  /** Inputs of the sources by source name. */
  sources?: Record<string, SourceDescription>;
  /** Outputs of the sinks by sink name (default: discard). */
  sinks?: Record<string, SinkDescription>;
  /** Edge and sink buffer sizes. */
  options?: { buffer?: number; sinkBuffer?: number };
  /** Checkpoint store directory (relative to the description) and interval. */
  checkpoint?: { store: string; every?: { items?: number; ms?: number }; keep?: number };
}

/** A loaded description: the pipeline, its started pools, and what `run` needs. */
export interface LoadedPipeline extends AsyncDisposable {
  /** The pipeline. */
  pipeline: Pipeline;
  /** The description it was built from. */
  description: PipelineDescription;
  /** Started pools by name (closed by `close()`). */
  pools: Record<string, WorkerPool>;
  /** Source inputs for `run`, from `description.sources`. */
  sources: Record<string, SourceInput>;
  /** Sink consumers for `runToCompletion`, from `description.sinks`. */
  sinks: Record<string, (item: unknown, info: { seq: number }) => unknown>;
  /** Run options (store, checkpointEvery, keep) from `description.checkpoint`. */
  runOptions: RunOptions;
  /** Close the pools and the sink files. */
  close(): Promise<void>;
}

const ACTION = "load the pipeline description";

function resolveUrl(ref: string, base: URL): URL {
  return new URL(ref, base);
}

function resolvePath(ref: string, base: URL): string {
  if (ref.startsWith("/")) return ref;
  return new URL(ref, base).pathname;
}

async function importFn(ref: FunctionRef, base: URL, where: string): Promise<NodeFunction> {
  if (ref === null || typeof ref !== "object" || typeof ref.module !== "string") {
    throw new PipelineBuildError(ACTION, `${where}: a function is {module, export?}`, ref);
  }
  const mod = await import(resolveUrl(ref.module, base).href);
  const fn = mod[ref.export ?? "default"];
  if (typeof fn !== "function") {
    throw new PipelineBuildError(
      ACTION,
      `${where}: export ${
        JSON.stringify(ref.export ?? "default")
      } of ${ref.module} is not a function`,
      fn,
    );
  }
  return fn as NodeFunction;
}

/**
 * Parse and check a description (from JSON text or an object).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidArgumentError, parseDescription } from "@spool/spool";
 *
 * const d = parseDescription('{"nodes": [{"name": "n", "source": true}], "sources": {"n": {"range": 3}}}');
 * assert.equal(d.nodes.length, 1);
 * assert.throws(() => parseDescription("{}"), InvalidArgumentError);
 * ```
 */
export function parseDescription(input: string | unknown): PipelineDescription {
  let d = input;
  if (typeof input === "string") {
    try {
      d = JSON.parse(input);
    } catch (error) {
      throw new InvalidArgumentError(
        ACTION,
        `the description is not valid JSON (${(error as Error).message})`,
        input,
        { cause: error },
      );
    }
  }
  if (d === null || typeof d !== "object" || !Array.isArray((d as PipelineDescription).nodes)) {
    throw new InvalidArgumentError(ACTION, "the description needs a nodes array", d);
  }
  return d as PipelineDescription;
}

/**
 * Build a pipeline from a description. Module references are resolved against `base` (the
 * description file's URL). Pools are started; close them with `close()` (or `await using`).
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
  options: { base?: string | URL } = {},
): Promise<LoadedPipeline> {
  const description = parseDescription(input);
  const base = options.base instanceof URL
    ? options.base
    : new URL(options.base ?? `file://${Deno.cwd()}/`);
  const pools: Record<string, WorkerPool> = {};
  const files: Deno.FsFile[] = [];
  const close = async () => {
    for (const f of files.splice(0)) f.close();
    await Promise.all(Object.values(pools).map((p) => p.close()));
  };
  try {
    for (const [name, pd] of Object.entries(description.pools ?? {})) {
      pools[name] = await WorkerPool.start({
        module: resolveUrl(pd.module, base),
        size: pd.size,
        init: pd.init,
        kind: pd.kind,
        exportName: pd.export,
      });
    }
    const pipeline = new Pipeline(description.options ?? {});
    for (const n of description.nodes) {
      if (n.source) {
        pipeline.source(n.name);
        continue;
      }
      const where = `node ${JSON.stringify(n.name)}`;
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
        const pool = pools[n.pool];
        if (!pool) throw new PipelineBuildError(ACTION, `${where}: no pool has this name`, n.pool);
        spec = { ...common, pool, ordered: n.ordered };
      } else if (n.chain !== undefined) {
        const chain: [NodeFunction, ...unknown[]][] = [];
        for (const c of n.chain) chain.push([await importFn(c, base, where), ...(c.args ?? [])]);
        spec = { ...common, chain };
      } else if (n.fn !== undefined) {
        const fn = await importFn(n.fn, base, where);
        spec = "state" in n ? { ...common, state: n.state, fn } : { ...common, fn };
      } else {
        throw new PipelineBuildError(ACTION, `${where}: needs fn, chain, pool or source`, n);
      }
      for (const k of Object.keys(spec) as (keyof typeof spec)[]) {
        if (spec[k] === undefined) delete spec[k];
      }
      pipeline.node(n.name, spec);
    }
    const sources: Record<string, SourceInput> = {};
    for (const [name, sd] of Object.entries(description.sources ?? {})) {
      sources[name] = await sourceOf(sd, base, name);
    }
    const sinks: Record<string, (item: unknown, info: { seq: number }) => unknown> = {};
    for (const [name, sd] of Object.entries(description.sinks ?? {})) {
      if ("files" in sd) {
        sinks[name] = fileSink(resolvePath(sd.files, base), { extension: sd.extension });
      } else if ("ndjson" in sd) {
        const path = resolvePath(sd.ndjson, base);
        const file = await Deno.open(path, { create: true, append: true });
        files.push(file);
        const enc = new TextEncoder();
        sinks[name] = async (item) => {
          await file.write(enc.encode(JSON.stringify(item) + "\n"));
        };
      } else if ("stdout" in sd) {
        sinks[name] = (item) => console.log(JSON.stringify(item));
      } else sinks[name] = () => {};
    }
    for (const s of pipeline.sinks()) sinks[s] ??= () => {};
    const runOptions: RunOptions = {};
    if (description.checkpoint) {
      runOptions.store = resolvePath(description.checkpoint.store, base);
      if (description.checkpoint.every) runOptions.checkpointEvery = description.checkpoint.every;
      if (description.checkpoint.keep !== undefined) runOptions.keep = description.checkpoint.keep;
    }
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

async function sourceOf(sd: SourceDescription, base: URL, name: string): Promise<SourceInput> {
  if ("lines" in sd) return lineSource(resolvePath(sd.lines, base), { follow: sd.follow });
  if ("ndjson" in sd) return ndjsonSource(resolvePath(sd.ndjson, base), { follow: sd.follow });
  if ("range" in sd) {
    const n = sd.range;
    return function* (position: number) {
      for (let i = position; i < n; i++) yield i;
    };
  }
  if ("items" in sd) return sd.items;
  if ("module" in sd) {
    const f = await importFn(sd, base, `source ${JSON.stringify(name)}`);
    return f as (position: number) => AnyIterable<unknown>;
  }
  throw new PipelineBuildError(ACTION, `source ${JSON.stringify(name)}: unknown kind`, sd);
}
