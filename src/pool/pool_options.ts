/**
 * The options of a {@linkcode WorkerPool} ({@linkcode PoolOptions}), its warnings and its
 * per-worker figures, and the helpers that read the options.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { InvalidArgumentError } from "../errors.ts";
import type { AnyWorkerDefinition, InitArgsOf } from "./define.ts";

const ACTION = "start worker pool";

/** Options of {@linkcode WorkerPool}. */
export interface PoolOptions<D extends AnyWorkerDefinition> {
  /** The worker module (URL, `file:` URL string, or path relative to the current directory). */
  module: string | URL;
  /** Number of workers (default: `navigator.hardwareConcurrency`). */
  size?: number;
  /** Init arguments shared by every worker. */
  init?: InitArgsOf<D>;
  /** Per-worker init arguments, overlaid on `init` (objects are merged); exactly `size` entries. */
  perWorker?: readonly Partial<InitArgsOf<D>>[];
  /** `"worker"` (Deno Worker threads, default) or `"process"` (one `deno run` child each). */
  kind?: "worker" | "process";
  /** Name of the module export holding the definition (default `"default"`). */
  exportName?: string;
  /** Chunks in flight per worker (pipelining hides message latency; default 32). A worker is
   * refilled once it is down to half of it, so chunks travel in batches. */
  depth?: number;
  /** How long `close()` waits for each worker's `dispose` before terminating it (default 2000). */
  closeTimeoutMs?: number;
  /** Flags for `deno run` of process workers (default `["-A"]`). */
  denoArgs?: readonly string[];
  /**
   * Called with each {@linkcode PoolWarning} (default: `console.warn` of its message), e.g. a
   * timed-out thread that Deno cannot stop.
   */
  onWarning?: (warning: PoolWarning) => void;
}

/**
 * Something the pool could not fix by itself and that you should know about.
 *
 * `"thread-still-running"`: a thread worker ran past `timeoutMs` (or did not stop at `close()`)
 * and did not answer: it is busy in JavaScript, and Deno (2.9.6) cannot stop a busy thread, so
 * `terminate()` leaves it running (a core busy, the process kept alive). Use `kind: "process"`
 * for tasks that may not return: a child process is killed for sure.
 */
export interface PoolWarning {
  /** What happened. */
  code: "thread-still-running";
  /** The worker concerned (for the warning at close: the first one). */
  workerIndex: number;
  /** A sentence for a log. */
  message: string;
}

export const POOL_KEYS = [
  "module",
  "size",
  "init",
  "perWorker",
  "kind",
  "exportName",
  "depth",
  "closeTimeoutMs",
  "denoArgs",
  "onWarning",
] as const;

/** Per-worker figures, in the spirit of mpire's insights. */
export interface WorkerInsights {
  /** Worker index. */
  index: number;
  /** `"ready"`, `"starting"`, `"dead"` or `"closed"`. */
  state: string;
  /** Inputs processed (including failed ones). */
  tasks: number;
  /** Messages (chunks) processed. */
  chunks: number;
  /** Time spent inside `process`, ms. */
  busyMs: number;
  /** Time alive and ready but not inside `process`, ms. */
  idleMs: number;
  /** Time of the last `init` (module load included), ms. */
  initMs: number;
  /** Times the worker was replaced after a crash or a timeout. */
  restarts: number;
  /**
   * Threads of this worker terminated while busy in JavaScript (after a timeout, or at close):
   * Deno cannot stop them, they may still be running. Always 0 with `kind: "process"`.
   */
  stuckThreads: number;
}

/** Merge shared and per-worker init arguments (plain objects are merged, others replaced). */
export function mergeArgs(shared: unknown, own: unknown): unknown {
  if (own === undefined) return shared;
  const plain = (v: unknown) =>
    v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;
  if (plain(shared) && plain(own)) return { ...(shared as object), ...(own as object) };
  return own;
}

/** The worker module as a URL string (a path becomes a `file:` URL). */
export function resolveModule(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== "string" || module === "") {
    throw new InvalidArgumentError(ACTION, "module must be a URL or a path", { received: module });
  }
  // A path (absolute, or relative to the cwd) becomes a file URL with `#`, `%` and spaces escaped;
  // anything else with a scheme ("file:", "https:", "data:") is already a URL.
  if (!isAbsolute(module) && /^[a-z][a-z0-9+.-]*:/i.test(module)) return module;
  return pathToFileURL(resolve(module)).href;
}
