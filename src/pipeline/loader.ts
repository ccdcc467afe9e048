/**
 * Pipelines as data: a JSON description (nodes referencing module URLs and export names, their
 * inputs, ratios and pools; sources; sinks; checkpoint settings) loaded into a runnable
 * {@linkcode Pipeline}.
 *
 * @module
 */

import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isRecord, optionsOf, Problems } from "../_internal/options.ts";
import { InvalidArgumentError } from "../errors.ts";
import { WorkerPool } from "../pool/worker_pool.ts";
import type { AnyIterable } from "../stream/sized.ts";
import { PipelineBuildError } from "./errors.ts";
import { fileSink, jsonText, lineSource, ndjsonSource } from "./nodes.ts";
import { Pipeline } from "./pipeline.ts";
import type { PipelineRunOptions, SourceInput } from "./run_types.ts";
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
  /** Pool nodes: inputs per message to a worker (an integer >= 1 or `"auto"`). */
  chunkSize?: number | "auto";
  /** Pool nodes: the map's window (items in flight). */
  maxInFlight?: number;
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
  /** The JSON Schema the file follows (for editors; see `src/pipeline/pipeline.schema.json`). */
  $schema?: string;
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
  runOptions: PipelineRunOptions;
  /** Close the pools and the sink files. */
  close(): Promise<void>;
}

const ACTION = "load the pipeline description";

/**
 * The keys each object of a description accepts. `pipeline.schema.json` lists the same ones (a
 * test walks both); an unknown key is an error naming it and these.
 */
export const DESCRIPTION_KEYS = {
  description: ["$schema", "nodes", "pools", "sources", "sinks", "options", "checkpoint"],
  node: {
    source: ["name", "source"],
    fn: ["name", "inputs", "fn", "state", "consume", "produce", "repeat", "spawn", "errors"],
    chain: ["name", "inputs", "chain", "consume", "produce", "repeat", "spawn", "errors"],
    pool: [
      "name",
      "inputs",
      "pool",
      "consume",
      "produce",
      "repeat",
      "errors",
      "ordered",
      "chunkSize",
      "maxInFlight",
    ],
  },
  functionRef: ["module", "export"],
  chainEntry: ["module", "export", "args"],
  pool: ["module", "size", "init", "kind", "export"],
  source: {
    lines: ["lines", "follow"],
    ndjson: ["ndjson", "follow"],
    range: ["range"],
    items: ["items"],
    module: ["module", "export"],
  },
  sink: {
    files: ["files", "extension"],
    ndjson: ["ndjson"],
    stdout: ["stdout"],
    discard: ["discard"],
  },
  options: ["buffer", "sinkBuffer"],
  checkpoint: ["store", "every", "keep"],
  every: ["items", "ms"],
} as const;

/** Every key of a kinded object (the union of its kinds' keys, first-seen order). */
function allKeys(kinds: Record<string, readonly string[]>): string[] {
  return [...new Set(Object.values(kinds).flat())];
}

/** `.name` for a name that reads as a path segment, else `["name"]`. */
function seg(name: string): string {
  return /^[A-Za-z_$][\w$-]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/** Checks of one description, every problem recorded (see {@linkcode checkDescription}). */
class Checker {
  constructor(readonly problems: Problems) {}

  string(path: string, v: unknown, required = false): boolean {
    if (v === undefined && !required) return true;
    if (typeof v !== "string" || v.length === 0) {
      this.problems.add(path, v === undefined ? "is required" : "must be a non-empty string", v);
      return false;
    }
    return true;
  }

  integer(path: string, v: unknown, min: number): void {
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      this.problems.add(path, `must be an integer >= ${min}`, v);
    }
  }

  boolean(path: string, v: unknown): void {
    if (v !== undefined && typeof v !== "boolean") this.problems.add(path, "must be a boolean", v);
  }

  oneOf(path: string, v: unknown, allowed: readonly unknown[]): void {
    if (v !== undefined && !allowed.includes(v)) {
      this.problems.add(
        path,
        `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`,
        v,
      );
    }
  }

  record(path: string, v: unknown, what: string): v is Record<string, unknown> {
    if (isRecord(v)) return true;
    this.problems.add(path, `must be an object (${what})`, v);
    return false;
  }

  /** The kind of a kinded object: the one discriminating key it has, or undefined. */
  kind(
    path: string,
    v: Record<string, unknown>,
    kinds: Record<string, readonly string[]>,
    what: string,
  ): string | undefined {
    const present = Object.keys(kinds).filter((k) => v[k] !== undefined);
    if (present.length === 1) {
      this.problems.keys(path, v, kinds[present[0]!]!);
      return present[0];
    }
    const names = Object.keys(kinds).join(", ");
    if (present.length === 0) {
      // A typo of the kind's key ("file" for "files") is reported as that unknown key.
      const before = this.problems.size;
      this.problems.keys(path, v, allKeys(kinds));
      if (this.problems.size === before) {
        this.problems.add(path, `${what} needs one of ${names}`, v);
      }
    } else this.problems.add(path, `${what} takes only one of ${names}`, present);
    return undefined;
  }

  functionRef(path: string, v: unknown, known: readonly string[]): void {
    if (!isRecord(v)) {
      this.problems.add(
        path,
        "must be a function: an object {module, export?} naming a module and its exported function",
        v,
      );
      return;
    }
    this.problems.keys(path, v, known);
    this.string(`${path}.module`, v.module, true);
    this.string(`${path}.export`, v.export);
    if (v.args !== undefined && !Array.isArray(v.args)) {
      this.problems.add(`${path}.args`, "must be an array", v.args);
    }
  }
}

/**
 * Check a parsed description against the rules of `pipeline.schema.json` plus what a schema
 * cannot say (unique names, inputs naming earlier nodes, pools, source and sink names that
 * exist); every problem is recorded in `problems`.
 */
export function checkDescription(d: unknown, problems: Problems): void {
  const c = new Checker(problems);
  if (!c.record("description", d, "with a nodes array")) return;
  problems.keys("description", d, DESCRIPTION_KEYS.description);
  c.string("$schema", d.$schema);
  const pools = d.pools;
  if (pools !== undefined && c.record("pools", pools, "pools by name")) {
    for (const [name, pd] of Object.entries(pools)) {
      const path = `pools${seg(name)}`;
      if (!c.record(path, pd, "{module, size?, init?, kind?, export?}")) continue;
      problems.keys(path, pd, DESCRIPTION_KEYS.pool);
      c.string(`${path}.module`, pd.module, true);
      c.integer(`${path}.size`, pd.size, 1);
      c.oneOf(`${path}.kind`, pd.kind, ["worker", "process"]);
      c.string(`${path}.export`, pd.export);
    }
  }
  const names = new Set<string>();
  const read = new Set<string>();
  const sourceNodes: string[] = [];
  if (!Array.isArray(d.nodes)) {
    problems.add(
      "nodes",
      "must be an array of nodes (the description needs a nodes array)",
      d.nodes,
    );
  } else {
    d.nodes.forEach((n: unknown, i: number) => {
      let path = `nodes[${i}]`;
      if (!c.record(path, n, "{name, inputs, fn | chain | pool} or {name, source: true}")) return;
      if (c.string(`${path}.name`, n.name, true)) {
        const name = n.name as string;
        path = `nodes${seg(name)}`;
        if (names.has(name)) problems.add(`${path}.name`, "another node has this name", name);
      }
      if (n.source !== undefined && n.source !== true) {
        problems.add(`${path}.source`, "must be true (leave it out for other nodes)", n.source);
      }
      const kinds = DESCRIPTION_KEYS.node;
      const present = (["source", "fn", "chain", "pool"] as const).filter((k) =>
        n[k] !== undefined && (k !== "source" || n.source === true)
      );
      const kind = present.length === 1 ? present[0]! : undefined;
      if (present.length === 0) {
        const before = problems.size;
        problems.keys(path, n, allKeys(kinds));
        if (problems.size === before) {
          problems.add(path, "a node needs one of source: true, fn, chain, pool", n);
        }
      } else if (present.length > 1) {
        problems.add(path, "a node takes only one of source, fn, chain, pool", present);
      } else problems.keys(path, n, kinds[kind!]);
      if (kind !== "source") {
        if (!Array.isArray(n.inputs) || n.inputs.length === 0) {
          if (kind !== undefined) {
            problems.add(
              `${path}.inputs`,
              'must be a non-empty array of node names (use "source": true for entry points)',
              n.inputs,
            );
          }
        } else {
          n.inputs.forEach((input: unknown, k: number) => {
            if (typeof input !== "string" || !names.has(input)) {
              problems.add(
                `${path}.inputs[${k}]`,
                "must name a node listed before this one (nodes come after their inputs)",
                input,
              );
            } else read.add(input);
          });
        }
      }
      if (kind === "fn") c.functionRef(`${path}.fn`, n.fn, DESCRIPTION_KEYS.functionRef);
      if (kind === "chain") {
        if (!Array.isArray(n.chain) || n.chain.length === 0) {
          problems.add(`${path}.chain`, "must be a non-empty array of functions", n.chain);
        } else {
          n.chain.forEach((e: unknown, k: number) =>
            c.functionRef(`${path}.chain[${k}]`, e, DESCRIPTION_KEYS.chainEntry)
          );
        }
      }
      if (kind === "pool" && c.string(`${path}.pool`, n.pool, true)) {
        if (!isRecord(pools) || !Object.hasOwn(pools, n.pool as string)) {
          const known = isRecord(pools) ? Object.keys(pools).join(", ") || "none" : "none";
          problems.add(`${path}.pool`, `must name a pool of "pools" (pools: ${known})`, n.pool);
        }
      }
      for (const k of ["consume", "produce", "spawn", "maxInFlight"]) {
        c.integer(`${path}.${k}`, n[k], 1);
      }
      c.boolean(`${path}.repeat`, n.repeat);
      c.boolean(`${path}.ordered`, n.ordered);
      c.oneOf(`${path}.errors`, n.errors, ["fail", "dead-letter"]);
      if (n.chunkSize !== undefined && n.chunkSize !== "auto") {
        c.integer(`${path}.chunkSize`, n.chunkSize, 1);
        if (typeof n.chunkSize !== "number") {
          problems.add(`${path}.chunkSize`, 'must be an integer >= 1 or "auto"', n.chunkSize);
        }
      }
      if (typeof n.name === "string") {
        names.add(n.name);
        if (kind === "source") sourceNodes.push(n.name);
      }
    });
  }
  const sinkNodes = [...names].filter((n) => !read.has(n));
  const sources = d.sources;
  if (sources !== undefined && c.record("sources", sources, "sources by source node name")) {
    for (const [name, sd] of Object.entries(sources)) {
      const path = `sources${seg(name)}`;
      if (Array.isArray(d.nodes) && !sourceNodes.includes(name)) {
        problems.add(
          path,
          `must name a source node (source nodes: ${sourceNodes.join(", ") || "none"})`,
          name,
        );
      }
      if (!c.record(path, sd, "{lines}, {ndjson}, {range}, {items} or {module, export?}")) continue;
      const kind = c.kind(path, sd, DESCRIPTION_KEYS.source, "a source");
      if (kind === "lines" || kind === "ndjson") {
        c.string(`${path}.${kind}`, sd[kind], true);
        c.boolean(`${path}.follow`, sd.follow);
      } else if (kind === "range") {
        if (!Number.isInteger(sd.range) || (sd.range as number) < 0) {
          problems.add(`${path}.range`, "must be an integer >= 0", sd.range);
        }
      } else if (kind === "items" && !Array.isArray(sd.items)) {
        problems.add(`${path}.items`, "must be an array", sd.items);
      } else if (kind === "module") {
        c.string(`${path}.module`, sd.module, true);
        c.string(`${path}.export`, sd.export);
      }
    }
  }
  const sinks = d.sinks;
  if (sinks !== undefined && c.record("sinks", sinks, "sinks by sink node name")) {
    for (const [name, sd] of Object.entries(sinks)) {
      const path = `sinks${seg(name)}`;
      if (Array.isArray(d.nodes) && !sinkNodes.includes(name)) {
        problems.add(
          path,
          `must name a sink node, one no other node reads (sinks: ${
            sinkNodes.join(", ") || "none"
          })`,
          name,
        );
      }
      if (!c.record(path, sd, "{files}, {ndjson}, {stdout: true} or {discard: true}")) continue;
      const kind = c.kind(path, sd, DESCRIPTION_KEYS.sink, "a sink");
      if (kind === "files" || kind === "ndjson") {
        c.string(`${path}.${kind}`, sd[kind], true);
        c.string(`${path}.extension`, sd.extension);
      } else if (kind !== undefined && sd[kind] !== true) {
        problems.add(`${path}.${kind}`, "must be true", sd[kind]);
      }
    }
  }
  if (d.options !== undefined && c.record("options", d.options, "{buffer?, sinkBuffer?}")) {
    problems.keys("options", d.options, DESCRIPTION_KEYS.options);
    c.integer("options.buffer", d.options.buffer, 1);
    c.integer("options.sinkBuffer", d.options.sinkBuffer, 1);
  }
  const cp = d.checkpoint;
  if (cp !== undefined && c.record("checkpoint", cp, "{store, every?, keep?}")) {
    problems.keys("checkpoint", cp, DESCRIPTION_KEYS.checkpoint);
    c.string("checkpoint.store", cp.store, true);
    c.integer("checkpoint.keep", cp.keep, 1);
    if (cp.every !== undefined && c.record("checkpoint.every", cp.every, "{items?, ms?}")) {
      const before = problems.size;
      problems.keys("checkpoint.every", cp.every, DESCRIPTION_KEYS.every);
      c.integer("checkpoint.every.items", cp.every.items, 1);
      const ms = cp.every.ms;
      if (ms !== undefined && (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0)) {
        problems.add("checkpoint.every.ms", "must be a finite number > 0", ms);
      }
      if (cp.every.items === undefined && ms === undefined && problems.size === before) {
        problems.add("checkpoint.every", "needs items, ms or both", cp.every);
      }
    }
  }
}

/** The description's file for messages: `base` when it is a file URL of a file, else none. */
function fileOf(base: URL | undefined): string | undefined {
  if (base === undefined || base.protocol !== "file:" || base.pathname.endsWith("/")) {
    return undefined;
  }
  return fileURLToPath(base);
}

function actionOf(file: string | undefined): string {
  return file === undefined ? ACTION : `${ACTION} ${file}`;
}

/** Options of {@linkcode parseDescription}. */
export interface ParseDescriptionOptions {
  /** The description's file, named in error messages. */
  file?: string;
}

/**
 * Parse and check a description (from JSON text or an object): every problem (unknown keys with
 * the accepted ones, wrong types, inputs or pools that do not exist, sources and sinks naming
 * no such node) is reported at once in one {@linkcode InvalidArgumentError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidArgumentError, parseDescription } from "@spool/spool";
 *
 * const d = parseDescription('{"nodes": [{"name": "n", "source": true}], "sources": {"n": {"range": 3}}}');
 * assert.equal(d.nodes.length, 1);
 * assert.throws(() => parseDescription("{}"), InvalidArgumentError);
 * assert.throws(
 *   () => parseDescription({ nodes: [{ name: "n", source: true }], sinks: { n: { file: "out" } } }),
 *   /sinks\.n: unknown key "file" \(known: files, extension, ndjson, stdout, discard\)/,
 * );
 * ```
 */
export function parseDescription(
  input: string | unknown,
  options: ParseDescriptionOptions = {},
): PipelineDescription {
  const action = actionOf(options.file);
  let d = input;
  if (typeof input === "string") {
    try {
      d = JSON.parse(input);
    } catch (error) {
      throw new InvalidArgumentError(
        action,
        `the description is not valid JSON (${(error as Error).message})`,
        { received: input, cause: error },
      );
    }
  }
  const problems = new Problems();
  checkDescription(d, problems);
  problems.throwIfAny(action);
  return d as PipelineDescription;
}

/** Options of {@linkcode loadPipeline}. */
export interface LoadPipelineOptions {
  /**
   * What module references and paths are relative to: the description file's URL (or path), or
   * a directory's URL ending in `/`. Default: the current directory.
   */
  base?: string | URL;
}

function baseOf(base: string | URL | undefined): URL {
  if (base instanceof URL) return base;
  if (base === undefined) return pathToFileURL(resolve(Deno.cwd()) + "/");
  if (/^[a-z][a-z0-9+.-]*:/i.test(base) && !isAbsolute(base)) return new URL(base);
  // A path ending in a separator names a directory (resolve() would drop it).
  return pathToFileURL(resolve(base) + (/[\\/]$/.test(base) ? "/" : ""));
}

/**
 * A reference of the description as a URL. A URL (`https:`, `data:`, `npm:`, `file:`, ...) is
 * taken as is; an absolute path becomes a `file:` URL; a relative one is a path relative to
 * the description's directory (never parsed as a URL: a `#` or `%` in it is part of the name),
 * or a URL relative to a non-file `base`.
 */
function refUrl(ref: string, base: URL): URL {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref) && !isAbsolute(ref)) return new URL(ref);
  if (isAbsolute(ref)) return pathToFileURL(ref);
  if (base.protocol !== "file:") return new URL(ref, base);
  const at = fileURLToPath(base);
  return pathToFileURL(resolve(base.pathname.endsWith("/") ? at : dirname(at), ref));
}

/** A path of the description (a sink directory, a source file, the store) as a file path. */
function pathOf(ref: string, base: URL, where: string, action: string): string {
  const url = refUrl(ref, base);
  if (url.protocol !== "file:") {
    throw new PipelineBuildError(action, `${where}: a path must resolve to a file`, {
      received: url.href,
    });
  }
  return fileURLToPath(url);
}

/** A module reference as a URL (see {@linkcode refUrl}). */
const moduleUrl = refUrl;

function shown(url: URL): string {
  return url.protocol === "file:" ? fileURLToPath(url) : url.href.slice(0, 80);
}

/** Import failures, collected so that every missing module is named at once. */
class ImportProblems {
  readonly list: { reason: string; module: string; error: unknown }[] = [];

  add(
    where: string,
    module: string,
    url: URL,
    error: unknown,
    what = "cannot import module",
  ): void {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
    this.list.push({
      reason: `${where}: ${what} ${JSON.stringify(module)} (${shown(url)}): ${why}`,
      module,
      error,
    });
  }

  throwIfAny(action: string): void {
    if (this.list.length === 0) return;
    const [first] = this.list;
    if (this.list.length === 1) {
      throw new PipelineBuildError(action, first!.reason, {
        received: first!.module,
        cause: first!.error,
      });
    }
    throw new PipelineBuildError(
      action,
      `${this.list.length} problems: ${this.list.map((p) => p.reason).join("; ")}`,
      {
        received: this.list.map((p) => p.module),
        cause: new AggregateError(this.list.map((p) => p.error)),
      },
    );
  }
}

async function importFn(
  ref: FunctionRef,
  base: URL,
  where: string,
  failures: ImportProblems,
): Promise<NodeFunction | undefined> {
  const url = moduleUrl(ref.module, base);
  let mod: Record<string, unknown>;
  try {
    mod = await import(url.href);
  } catch (error) {
    failures.add(where, ref.module, url, error);
    return undefined;
  }
  const name = ref.export ?? "default";
  const fn = mod[name];
  if (typeof fn !== "function") {
    failures.add(
      where,
      ref.module,
      url,
      new TypeError(`its export ${JSON.stringify(name)} is not a function (it is ${typeof fn})`),
      "bad export of module",
    );
    return undefined;
  }
  return fn as NodeFunction;
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
  const o = optionsOf(ACTION, options, ["base"]);
  if (o.base !== undefined && typeof o.base !== "string" && !(o.base instanceof URL)) {
    throw new InvalidArgumentError(ACTION, "base must be a URL or a path", { received: o.base });
  }
  if (o.base === "") {
    // An empty path would silently mean the working directory: say so explicitly instead.
    throw new InvalidArgumentError(
      ACTION,
      'base must be a non-empty path or URL (omit it, or pass ".", for the working directory)',
      { received: o.base },
    );
  }
  const base = baseOf(o.base as string | URL | undefined);
  const file = fileOf(base);
  const action = actionOf(file);
  const description = parseDescription(input, { file });

  // Every function first (no pool is started for a description whose modules are missing).
  const failures = new ImportProblems();
  const fns = new Map<FunctionRef, NodeFunction | undefined>();
  const wanted: [FunctionRef, string][] = [];
  for (const n of description.nodes) {
    const where = `node ${JSON.stringify(n.name)}`;
    if (n.fn !== undefined) wanted.push([n.fn, where]);
    for (const c of n.chain ?? []) wanted.push([c, where]);
  }
  for (const [name, sd] of Object.entries(description.sources ?? {})) {
    if ("module" in sd) wanted.push([sd, `source ${JSON.stringify(name)}`]);
  }
  for (const [ref, where] of wanted) fns.set(ref, await importFn(ref, base, where, failures));
  for (const [name, pd] of Object.entries(description.pools ?? {})) {
    const url = moduleUrl(pd.module, base);
    if (url.protocol !== "file:") continue;
    try {
      await Deno.stat(url);
    } catch (error) {
      failures.add(`pool ${JSON.stringify(name)}`, pd.module, url, error);
    }
  }
  for (const [name, sd] of Object.entries(description.sources ?? {})) {
    // A missing input file is named now, before any pool starts (unless it is followed: it
    // may appear later).
    const ref = "lines" in sd ? sd.lines : "ndjson" in sd ? sd.ndjson : undefined;
    if (ref === undefined || (sd as { follow?: boolean }).follow === true) continue;
    const url = refUrl(ref, base);
    try {
      await Deno.stat(url);
    } catch (error) {
      failures.add(`source ${JSON.stringify(name)}`, ref, url, error, "cannot read file");
    }
  }
  failures.throwIfAny(action);

  const pools: Record<string, WorkerPool> = {};
  const files: Deno.FsFile[] = [];
  const close = async () => {
    for (const f of files.splice(0)) f.close();
    await Promise.all(Object.values(pools).map((p) => p.close()));
  };
  try {
    for (const [name, pd] of Object.entries(description.pools ?? {})) {
      pools[name] = await WorkerPool.start({
        module: moduleUrl(pd.module, base),
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
        spec = { ...common, chain: n.chain.map((c) => [fns.get(c)!, ...(c.args ?? [])] as const) };
      } else {
        const fn = fns.get(n.fn!)!;
        spec = "state" in n ? { ...common, state: n.state, fn } : { ...common, fn };
      }
      for (const k of Object.keys(spec) as (keyof typeof spec)[]) {
        if (spec[k] === undefined) delete spec[k];
      }
      pipeline.node(n.name, spec);
    }
    const sources: Record<string, SourceInput> = {};
    for (const [name, sd] of Object.entries(description.sources ?? {})) {
      const where = `source ${JSON.stringify(name)}`;
      if ("lines" in sd) {
        sources[name] = lineSource(pathOf(sd.lines, base, where, action), { follow: sd.follow });
      } else if ("ndjson" in sd) {
        sources[name] = ndjsonSource(pathOf(sd.ndjson, base, where, action), {
          follow: sd.follow,
        });
      } else if ("range" in sd) {
        const n = sd.range;
        sources[name] = function* (position: number) {
          for (let i = position; i < n; i++) yield i;
        };
      } else if ("items" in sd) sources[name] = sd.items;
      else sources[name] = fns.get(sd)! as (position: number) => AnyIterable<unknown>;
    }
    const sinks: Record<string, (item: unknown, info: { seq: number }) => unknown> = {};
    for (const [name, sd] of Object.entries(description.sinks ?? {})) {
      const where = `sink ${JSON.stringify(name)}`;
      if ("files" in sd) {
        sinks[name] = fileSink(pathOf(sd.files, base, where, action), {
          extension: sd.extension,
        });
      } else if ("ndjson" in sd) {
        const path = pathOf(sd.ndjson, base, where, action);
        let file: Deno.FsFile;
        try {
          await Deno.mkdir(dirname(path), { recursive: true });
          file = await Deno.open(path, { create: true, append: true });
        } catch (error) {
          throw new PipelineBuildError(
            action,
            `${where}: cannot open ${path} for appending (${(error as Error).message})`,
            { received: sd.ndjson, cause: error },
          );
        }
        files.push(file);
        const enc = new TextEncoder();
        const write = `write to the ndjson sink ${JSON.stringify(name)}`;
        sinks[name] = async (item) => {
          // An item without JSON form is refused (JSON.stringify would write "undefined").
          const bytes = enc.encode(jsonText(write, item) + "\n");
          // write() may write less than asked: loop until the whole line is in the file.
          for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
        };
      } else if ("stdout" in sd) {
        const write = `write to the stdout sink ${JSON.stringify(name)}`;
        sinks[name] = (item) => console.log(jsonText(write, item));
      } else sinks[name] = () => {};
    }
    for (const s of pipeline.sinks()) sinks[s] ??= () => {};
    const runOptions: PipelineRunOptions = {};
    if (description.checkpoint) {
      runOptions.store = pathOf(description.checkpoint.store, base, "checkpoint", action);
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

/**
 * Where a description's relative paths resolve: the checkpoint store and the sink outputs as
 * file paths (`undefined` for sinks that write no file). For tools that inspect a description
 * without loading it (the CLI's `--fresh` and completion check).
 */
export function descriptionPaths(
  description: PipelineDescription,
  base: string | URL | undefined,
): { store?: string; sinks: Record<string, { kind: string; path?: string }> } {
  const url = baseOf(base);
  const action = actionOf(fileOf(url));
  const sinks: Record<string, { kind: string; path?: string }> = {};
  for (const [name, sd] of Object.entries(description.sinks ?? {})) {
    const where = `sink ${JSON.stringify(name)}`;
    if ("files" in sd) sinks[name] = { kind: "files", path: pathOf(sd.files, url, where, action) };
    else if ("ndjson" in sd) {
      sinks[name] = { kind: "ndjson", path: pathOf(sd.ndjson, url, where, action) };
    } else sinks[name] = { kind: "stdout" in sd ? "stdout" : "discard" };
  }
  const store = description.checkpoint?.store;
  return {
    store: store === undefined ? undefined : pathOf(store, url, "checkpoint", action),
    sinks,
  };
}
