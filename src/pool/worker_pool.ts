/**
 * `WorkerPool`: stateful workers (threads or processes) serving lazy, bounded, fair maps.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  assertInteger,
  assertNumber,
  ClosedError,
  InvalidArgumentError,
  TimeoutError,
} from "../errors.ts";
import {
  optionalBoolean,
  optionalFunction,
  optionalOneOf,
  optionalString,
  optionsOf,
} from "../_internal/options.ts";
import { type AnyIterable, lengthOf, withLength } from "../stream/sized.ts";
import type { AnyWorkerDefinition, ArgsOf, InitArgsOf, InputOf, OutputOf } from "./define.ts";
import {
  CloneError,
  decodeError,
  type EncodedError,
  findUnsendable,
  unsendableReason,
  WorkerCrashError,
  WorkerDisposeError,
  WorkerInitError,
} from "./errors.ts";
import { type Chunk, type ErrorPolicy, MapRun, type Scheduler, type Settled } from "./map_run.ts";
import { type ControlMessage, ISOLATE, RUN, type WireChunk, type WireReply } from "./protocol.ts";
import { type HandleEvents, spawnProcess, spawnThread, type WorkerHandle } from "./transport.ts";

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

const POOL_KEYS = [
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

const MAP_KEYS = [
  "maxInFlight",
  "ordered",
  "errors",
  "spread",
  "chunkSize",
  "transfer",
  "timeoutMs",
  "signal",
] as const;

/** How long a timed-out thread gets to answer a ping before it is reported as still running. */
const PING_MS = 1000;

/** Options of {@linkcode WorkerPool.map}. */
export interface PoolMapOptions {
  /**
   * Inputs read from the source and not yet handed to the consumer (queued, running, or done
   * and waiting): bounds memory per map. Default: `4 * size * depth` with `chunkSize` 1,
   * `4 * size * depth * chunkSize` with a numeric chunk size, 8192 with `"auto"`.
   */
  maxInFlight?: number;
  /** Results in input order (default `true`) or in completion order. */
  ordered?: boolean;
  /** Error policy (default `"throw"`). */
  errors?: ErrorPolicy;
  /** Call `process(state, ...item)` instead of `process(state, item)`. */
  spread?: boolean;
  /** Inputs per message to a worker, or `"auto"` (about 1 ms of work per chunk). Default 1. */
  chunkSize?: number | "auto";
  /** Move ArrayBuffers (found in inputs/results, or listed by the function) instead of copying. */
  transfer?: boolean | ((input: unknown) => Transferable[]);
  /** Per-input time limit: a worker running past it is terminated and replaced. */
  timeoutMs?: number;
  /** Cancels the map. */
  signal?: AbortSignal;
}

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

interface Slot {
  index: number;
  handle: WorkerHandle | undefined;
  state: "starting" | "ready" | "dead" | "closed";
  inflight: Chunk[];
  outbox: Chunk[];
  lastAck: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  started: ((error?: Error) => void) | undefined;
  disposed: (() => void) | undefined;
  tasks: number;
  chunks: number;
  busyMs: number;
  initMs: number;
  restarts: number;
  stuckThreads: number;
  readyAt: number;
  liveMs: number;
  depth: number;
  chunkMs: number;
}

const ACTION = "start worker pool";
/** Queued work aimed for per worker when adapting the pipelining depth, ms. */
const PIPELINE_MS = 4;

/** Merge shared and per-worker init arguments (plain objects are merged, others replaced). */
function mergeArgs(shared: unknown, own: unknown): unknown {
  if (own === undefined) return shared;
  const plain = (v: unknown) =>
    v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;
  if (plain(shared) && plain(own)) return { ...(shared as object), ...(own as object) };
  return own;
}

function resolveModule(module: string | URL): string {
  if (module instanceof URL) return module.href;
  if (typeof module !== "string" || module === "") {
    throw new InvalidArgumentError(ACTION, "module must be a URL or a path", { received: module });
  }
  // A path (absolute, or relative to the cwd) becomes a file URL with `#`, `%` and spaces escaped;
  // anything else with a scheme ("file:", "https:", "data:") is already a URL.
  if (!isAbsolute(module) && /^[a-z][a-z0-9+.-]*:/i.test(module)) return module;
  return pathToFileURL(resolve(module)).href;
}

/**
 * A pool of stateful workers. Each worker loads `module`, whose default export (see
 * {@linkcode defineWorker}) builds the worker's state once from the init arguments, then
 * serves `process(state, input)` calls for any number of concurrent {@linkcode WorkerPool.map}s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerPool } from "@spool/spool";
 *
 * const source = `export default {
 *   init: (args, { index }) => ({ factor: args.factor, id: index }),
 *   process: (state, x) => x * state.factor,
 * };`;
 * await using pool = await WorkerPool.start<{
 *   init: (a: { factor: number }) => { factor: number; id: number };
 *   process: (s: { factor: number; id: number }, x: number) => number;
 * }>({
 *   module: `data:application/javascript,${encodeURIComponent(source)}`,
 *   size: 2,
 *   init: { factor: 10 },
 * });
 * const out: number[] = [];
 * for await (const y of pool.map([1, 2, 3])) out.push(y);
 * assert.ok(out.join() === "10,20,30");
 * ```
 */
export class WorkerPool<D extends AnyWorkerDefinition = AnyWorkerDefinition>
  implements AsyncDisposable {
  /** Resolves when every worker is initialised; rejects with {@linkcode WorkerInitError}. */
  readonly ready: Promise<void>;
  /** Number of workers. */
  readonly size: number;
  /** Backend kind. */
  readonly kind: "worker" | "process";
  readonly #slots: Slot[] = [];
  readonly #runs: MapRun[] = [];
  readonly #depth: number;
  readonly #module: string;
  readonly #exportName: string;
  readonly #args: unknown[];
  readonly #closeTimeoutMs: number;
  readonly #denoArgs: readonly string[];
  readonly #terminating = new Set<Promise<void>>();
  readonly #pongs = new Map<WorkerHandle, () => void>();
  readonly #onWarning: (warning: PoolWarning) => void;
  #rr = 0;
  #scheduled = false;
  #chunkId = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #startDone = false;
  #disposeError: WorkerDisposeError | undefined;
  readonly #scheduler: Scheduler;

  /**
   * Start the workers (use `await pool.ready` or {@linkcode WorkerPool.start}).
   *
   * @param options module, size, init arguments, backend
   */
  constructor(options: PoolOptions<D>) {
    if (options === undefined) {
      throw new InvalidArgumentError(ACTION, "options must be an object", { received: options });
    }
    const o = optionsOf(ACTION, options, POOL_KEYS);
    this.#module = resolveModule(o.module as string | URL);
    this.size = assertInteger(
      ACTION,
      "size",
      options.size ?? navigator.hardwareConcurrency ?? 2,
      1,
    );
    this.#depth = assertInteger(ACTION, "depth", options.depth ?? 32, 1);
    this.#closeTimeoutMs = assertNumber(
      ACTION,
      "closeTimeoutMs",
      options.closeTimeoutMs ?? 2000,
      0,
    );
    this.kind = optionalOneOf(ACTION, "kind", o.kind, ["worker", "process"] as const) ?? "worker";
    this.#exportName = optionalString(ACTION, "exportName", o.exportName) ?? "default";
    const denoArgs = o.denoArgs ?? ["-A"];
    if (!Array.isArray(denoArgs) || !denoArgs.every((a) => typeof a === "string")) {
      throw new InvalidArgumentError(ACTION, "denoArgs must be an array of strings", {
        received: denoArgs,
      });
    }
    this.#denoArgs = denoArgs;
    this.#onWarning =
      optionalFunction<(w: PoolWarning) => void>(ACTION, "onWarning", o.onWarning) ??
        ((w) => console.warn(`spool WorkerPool: ${w.message}`));
    const per = options.perWorker;
    if (per !== undefined && (!Array.isArray(per) || per.length !== this.size)) {
      throw new InvalidArgumentError(
        ACTION,
        `perWorker must be an array with exactly size (${this.size}) entries`,
        { received: per },
      );
    }
    this.#args = [];
    for (let i = 0; i < this.size; i++) this.#args.push(mergeArgs(options.init, per?.[i]));
    for (let i = 0; i < this.size; i++) {
      this.#slots.push({
        index: i,
        handle: undefined,
        state: "starting",
        inflight: [],
        outbox: [],
        lastAck: 0,
        timer: undefined,
        started: undefined,
        disposed: undefined,
        tasks: 0,
        chunks: 0,
        busyMs: 0,
        initMs: 0,
        restarts: 0,
        stuckThreads: 0,
        readyAt: 0,
        liveMs: 0,
        depth: Math.min(this.#depth, 4), // grows once task times are known
        chunkMs: 0,
      });
    }
    this.#scheduler = {
      schedule: () => this.#schedule(),
      hungry: () => this.#hungry(),
      whenReady: () => this.ready,
      attach: (run) => {
        this.#runs.push(run);
        if (this.#startDone) this.#checkAlive(); // a pool whose workers all died fails at once
      },
      detach: (run) => {
        const i = this.#runs.indexOf(run);
        if (i >= 0) this.#runs.splice(i, 1);
      },
      size: this.size,
      depth: this.#depth,
      nextId: () => this.#chunkId++,
      isClosed: () => this.#closed,
    };
    this.ready = this.#startAll();
    this.ready.catch(() => {}); // reported to whoever awaits `ready` or maps
  }

  /**
   * Create a pool and wait until every worker's state is built.
   *
   * @param options module, size, init arguments, backend
   * @returns the ready pool
   * @throws {WorkerInitError} naming the first worker whose init failed (the others are stopped)
   */
  static async start<D extends AnyWorkerDefinition>(
    options: PoolOptions<D>,
  ): Promise<WorkerPool<D>> {
    const pool = new WorkerPool<D>(options);
    await pool.ready;
    return pool;
  }

  async #startAll(): Promise<void> {
    try {
      // Fail fast: the first init that fails stops the others (a slow or hung init elsewhere
      // must not delay the report).
      await Promise.all(this.#slots.map((s) => this.#spawn(s)));
    } catch (error) {
      this.#startDone = true;
      await this.close();
      throw error;
    }
    this.#startDone = true;
    if (this.#closed) throw new ClosedError(ACTION, "the pool was closed while starting");
  }

  /** Spawn (or respawn) a slot's worker and initialise it. */
  #spawn(slot: Slot): Promise<void> {
    slot.state = "starting";
    return new Promise<void>((resolve, reject) => {
      slot.started = (error) => {
        slot.started = undefined;
        if (error) reject(new WorkerInitError(slot.index, error, this.#args[slot.index]));
        else resolve();
      };
      let handle: WorkerHandle | undefined;
      // A replaced worker's late messages (stale replies, a pong) never reach the new one's slot.
      const events: HandleEvents = {
        message: (m) => {
          if (handle !== undefined && slot.handle === handle) this.#onMessage(slot, m);
          else if (handle !== undefined) this.#onStale(handle, m);
        },
        exit: (reason, error) => {
          if (handle !== undefined && slot.handle === handle) {
            this.#onDeath(slot, reason, -1, error);
          }
        },
      };
      try {
        handle = slot.handle = this.kind === "process"
          ? spawnProcess(events, this.#denoArgs)
          : spawnThread(events);
      } catch (e) {
        slot.started = undefined;
        reject(
          new WorkerInitError(
            slot.index,
            e instanceof Error ? e : new Error(String(e)),
            this.#args[slot.index],
          ),
        );
        return;
      }
      const args = this.#args[slot.index];
      try {
        handle.post({
          t: "init",
          module: this.#module,
          exportName: this.#exportName,
          args,
          index: slot.index,
          size: this.size,
          kind: this.kind,
        });
      } catch (e) {
        // init arguments the transport cannot copy (a function, a symbol, ...): name the key
        const bad = findUnsendable(args, handle.probe, "init") ??
          { path: "init", value: args, error: e };
        slot.state = "dead";
        this.#kill(slot);
        slot.started = undefined;
        reject(
          new CloneError(
            ACTION,
            bad.path,
            `cannot be sent to worker ${slot.index}: ${unsendableReason(bad.value, bad.error)}`,
            bad.value,
            { cause: bad.error },
          ),
        );
      }
    });
  }

  /** A message from a worker that was replaced: only a pong matters (see #terminateChecked). */
  #onStale(handle: WorkerHandle, msg: unknown): void {
    if (!Array.isArray(msg) && (msg as ControlMessage).t === "pong") this.#pongs.get(handle)?.();
  }

  #warn(workerIndex: number, message: string): void {
    try {
      this.#onWarning({ code: "thread-still-running", workerIndex, message });
    } catch { /* a failing warning handler must not break the pool */ }
  }

  /**
   * Terminate a thread that may be busy: ping it first. A thread whose event loop is free
   * answers at once and terminate() stops it; one that does not answer within PING_MS is busy in
   * JavaScript, and Deno cannot stop it: it is counted and reported.
   */
  async #terminateChecked(slot: Slot, handle: WorkerHandle, when: string): Promise<void> {
    const answered = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#pongs.delete(handle);
        resolve(false);
      }, PING_MS);
      this.#pongs.set(handle, () => {
        clearTimeout(timer);
        this.#pongs.delete(handle);
        resolve(true);
      });
      try {
        handle.post({ t: "ping" });
      } catch {
        this.#pongs.get(handle)?.();
      }
    });
    await handle.terminate().catch(() => {});
    if (answered) return;
    slot.stuckThreads++;
    this.#warn(
      slot.index,
      `worker ${slot.index}'s thread ${when} and does not answer: it is busy in JavaScript, and ` +
        "Deno cannot stop a busy thread, so it is still running (a core stays busy and the " +
        'process cannot exit by itself); use kind: "process" for tasks that may not return ' +
        "(a child process is killed for sure)",
    );
  }

  #onMessage(slot: Slot, msg: unknown): void {
    if (Array.isArray(msg)) {
      if (msg[0] !== RUN) return;
      const replies = msg[1] as WireReply[];
      const inflight = slot.inflight;
      for (let k = 0; k < replies.length; k++) {
        const [id, busy, values, errs] = replies[k]!;
        const chunk = inflight.shift();
        if (chunk === undefined || chunk.id !== id) continue; // a stale reply after a requeue
        slot.tasks += values.length;
        slot.chunks++;
        slot.busyMs += busy;
        slot.chunkMs = slot.chunkMs * 0.8 + busy * 0.2;
        chunk.run.complete(chunk, values, errs, busy, slot.index);
      }
      if (slot.timer !== undefined) {
        slot.lastAck = performance.now();
        if (inflight.length === 0) {
          clearTimeout(slot.timer);
          slot.timer = undefined;
        }
      }
      // Adaptive pipelining: deep for tiny tasks (hides message latency), shallow for long ones
      // (keeps the load balanced): about PIPELINE_MS of queued work per worker.
      slot.depth = Math.min(
        this.#depth,
        Math.max(2, Math.round(PIPELINE_MS / Math.max(slot.chunkMs, 1e-3))),
      );
      this.#schedule();
      return;
    }
    const m = msg as ControlMessage;
    switch (m.t) {
      case "ready":
        slot.initMs = m.initMs;
        slot.readyAt = performance.now();
        if (this.#closed) return;
        slot.state = "ready";
        slot.started?.();
        this.#schedule();
        return;
      case "initError":
        slot.state = "dead";
        this.#kill(slot);
        {
          const err = decodeError(m.error);
          slot.started?.(err);
          this.#checkAlive(new WorkerInitError(slot.index, err, this.#args[slot.index]));
        }
        return;
      case "crash":
        this.#onDeath(slot, m.reason, m.chunk, m.error ? decodeError(m.error) : undefined);
        return;
      case "disposed":
        if (m.error !== undefined && this.#disposeError === undefined) {
          this.#disposeError = new WorkerDisposeError(slot.index, decodeError(m.error));
        }
        slot.disposed?.();
        return;
    }
  }

  /** A worker died (crash notice, exit, timeout): fail its task, requeue the rest, respawn. */
  #onDeath(slot: Slot, reason: string, chunkId: number, error?: Error, timeout = false): void {
    if (slot.state === "closed" || slot.state === "dead" && !slot.started) return;
    if (this.#closed) {
      slot.disposed?.();
      return;
    }
    const wasStarting = slot.state === "starting";
    slot.state = "dead";
    if (slot.readyAt > 0) slot.liveMs += performance.now() - slot.readyAt;
    slot.readyAt = 0;
    this.#kill(slot, timeout ? "ran past timeoutMs" : undefined);
    if (wasStarting && slot.started) {
      slot.started(error ?? new WorkerCrashError(slot.index, reason));
      this.#checkAlive();
      return;
    }
    const inflight = slot.inflight;
    slot.inflight = [];
    // The culprit: the chunk the worker named, else the oldest unacknowledged one if it was
    // isolated (replies flushed right before it). Otherwise replies may have been batched, so
    // nobody is blamed yet: every chunk is sent again, isolated, and the next death is exact.
    let culprit = inflight.findIndex((c) => c.id === chunkId);
    const oldest = inflight[0];
    if (culprit < 0 && oldest && (oldest.isolate || (oldest.run.flags & ISOLATE) !== 0)) {
      culprit = 0;
    }
    const cause = timeout
      ? new TimeoutError("finish a task in time", reason, {
        received: inflight[culprit]?.run.timeoutMs,
      })
      : new WorkerCrashError(slot.index, reason, error);
    // Only the culprit fails when it is known; the others did nothing wrong and run again (not
    // counted as retries). When nobody is known, each is retried isolated, at most 3 times.
    const again = new Map<MapRun, Chunk[]>();
    for (let i = 0; i < inflight.length; i++) {
      const c = inflight[i]!;
      if (i === culprit || (culprit < 0 && ++c.retries > 3)) {
        c.run.failChunk(c, slot.index, cause);
      } else {
        if (culprit < 0) c.isolate = true;
        const list = again.get(c.run);
        if (list) list.push(c);
        else again.set(c.run, [c]);
      }
    }
    // back at the front of their maps' queues, in their original order
    for (const [run, chunks] of again) run.requeue(chunks);
    slot.restarts++;
    {
      this.#spawn(slot).then(
        () => this.#schedule(),
        (e) => {
          slot.state = "dead";
          this.#checkAlive(e);
        },
      );
    }
    this.#schedule();
  }

  /** When no worker is alive or starting, every active map fails. */
  #checkAlive(error?: unknown): void {
    if (!this.#startDone) return;
    if (this.#slots.some((s) => s.state === "ready" || s.state === "starting")) return;
    const err = error ?? new ClosedError("map over the worker pool", "every worker is dead");
    for (const run of [...this.#runs]) run.fail(err);
  }

  /** Stop a slot's worker; `check` (threads): find out whether it really stops, see below. */
  #kill(slot: Slot, check?: string): void {
    if (slot.timer !== undefined) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    const h = slot.handle;
    slot.handle = undefined;
    if (h) {
      const p = check !== undefined && this.kind === "worker"
        ? this.#terminateChecked(slot, h, check)
        : h.terminate().catch(() => {});
      this.#terminating.add(p);
      p.then(() => this.#terminating.delete(p));
    }
  }

  #hungry(): boolean {
    for (const r of this.#runs) if (r.pendingCount > 0) return false;
    for (const s of this.#slots) {
      if (s.state === "ready" && s.inflight.length <= s.depth >> 1) return true;
    }
    return false;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#dispatch);
  }

  readonly #dispatch = (): void => {
    this.#scheduled = false;
    const runs = this.#runs;
    if (runs.length === 0 || this.#closed) return;
    const slots = this.#slots;
    let touched = false;
    for (;;) {
      let best: Slot | undefined;
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i]!;
        const depth = s.depth;
        const low = depth >> 1;
        if (
          // Refill a worker only once it is down to half its depth (or while filling it in
          // this round): tasks then travel in batches, one message each way per batch.
          s.state === "ready" && s.inflight.length < depth &&
          (s.inflight.length <= low || s.outbox.length > 0) &&
          (!best || s.inflight.length < best.inflight.length)
        ) {
          best = s;
        }
      }
      if (!best) break;
      let run: MapRun | undefined;
      const n = runs.length;
      for (let k = 0; k < n; k++) {
        const r = runs[(this.#rr + k) % n]!;
        if (r.pendingCount > 0) {
          run = r;
          this.#rr = (this.#rr + k + 1) % n;
          break;
        }
      }
      if (!run) {
        // An idle worker and nothing queued: send what async sources have gathered so far.
        for (let k = 0; k < n; k++) {
          const r = runs[(this.#rr + k) % n]!;
          if (r.hasPartial) {
            r.flushPartial();
            run = r;
            this.#rr = (this.#rr + k + 1) % n;
            break;
          }
        }
        if (!run) break;
      }
      const c = run.takePending();
      best.inflight.push(c);
      best.outbox.push(c);
      touched = true;
    }
    if (!touched) return;
    const now = performance.now();
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      let out = s.outbox;
      if (out.length === 0) continue;
      s.outbox = [];
      // Transfer lists first: a transfer function of yours that throws fails its own chunk's
      // inputs (with your error as cause), the others are sent.
      let lists: (Transferable[] | undefined)[] | undefined;
      if (out.some((c) => (c.run.flags & 2) !== 0)) {
        const kept: Chunk[] = [];
        lists = [];
        for (const c of out) {
          let list: Transferable[] | undefined;
          if (c.run.flags & 2) {
            list = [];
            try {
              c.run.transferOf(c.items, list);
            } catch (e) {
              s.inflight = s.inflight.filter((x) => x !== c);
              c.run.failChunk(c, s.index, e instanceof Error ? e : new Error(String(e)));
              continue;
            }
          }
          kept.push(c);
          lists.push(list);
        }
        out = kept;
        if (out.length === 0) continue;
      }
      const wire: WireChunk[] = new Array(out.length);
      let transfer: Transferable[] | undefined;
      for (let j = 0; j < out.length; j++) {
        const c = out[j]!;
        wire[j] = [c.id, c.isolate ? c.run.flags | ISOLATE : c.run.flags, c.items];
        const list = lists?.[j];
        if (list !== undefined && list.length > 0) {
          transfer ??= [];
          for (const b of list) if (!transfer.includes(b)) transfer.push(b);
        }
        if (c.run.timeoutMs > 0) {
          c.sentAt = now;
          if (s.timer === undefined) {
            s.lastAck = now;
            this.#arm(s, c.run.timeoutMs * c.items.length);
          }
        }
      }
      try {
        s.handle!.post([RUN, wire], transfer);
      } catch {
        this.#postOneByOne(s, out, wire, lists);
      }
    }
  };

  /**
   * A batch could not be sent (some input cannot be copied): send its chunks one by one; in a
   * chunk that still cannot be sent, the inputs that cannot fail alone with a CloneError naming
   * them, and the others are queued again. The worker is fine.
   */
  #postOneByOne(
    s: Slot,
    out: Chunk[],
    wire: WireChunk[],
    lists: (Transferable[] | undefined)[] | undefined,
  ): void {
    const handle = s.handle!;
    const failed: [Chunk, unknown][] = [];
    for (let j = 0; j < out.length; j++) {
      const c = out[j]!;
      const transfer = lists?.[j];
      try {
        handle.post([RUN, [wire[j]]], transfer?.length ? transfer : undefined);
      } catch (e) {
        failed.push([c, e]);
      }
    }
    if (failed.length === 0) return;
    const bad = new Set(failed.map(([c]) => c));
    s.inflight = s.inflight.filter((c) => !bad.has(c));
    for (const [c, e] of failed) {
      const why = (item: unknown, index: number): Error | undefined => {
        const found = findUnsendable(item, handle.probe, "input");
        if (found === undefined) return undefined;
        return new CloneError(
          `send input #${index}`,
          found.path,
          `cannot be sent to worker ${s.index}: ${unsendableReason(found.value, found.error)}`,
          found.value,
          { cause: found.error },
        );
      };
      const fallback = new CloneError(
        `send input #${c.start}`,
        "input",
        `cannot be sent to worker ${s.index}: ${unsendableReason(undefined, e)}`,
        c.items,
        { cause: e },
      );
      c.run.rejectUnsendable(c, s.index, why, fallback);
    }
  }

  #arm(slot: Slot, ms: number): void {
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      const head = slot.inflight[0];
      if (!head || head.run.timeoutMs <= 0) {
        if (slot.inflight.some((c) => c.run.timeoutMs > 0)) this.#arm(slot, 10);
        return;
      }
      const deadline = Math.max(head.sentAt, slot.lastAck) + head.run.timeoutMs * head.items.length;
      const now = performance.now();
      if (now >= deadline) {
        this.#onDeath(
          slot,
          `input took longer than timeoutMs (${head.run.timeoutMs} ms per input)`,
          head.id,
          undefined,
          true,
        );
      } else {
        this.#arm(slot, deadline - now);
      }
    }, Math.max(0, ms));
  }

  /**
   * Map `source` through the workers, lazily and with a bounded window. The result is an async
   * iterable (with `length` when the source has one).
   *
   * @param source any iterable or async iterable of inputs
   * @param options ordering, window, error policy, chunking, transfer, timeout, signal
   */
  map(
    source: AnyIterable<InputOf<D>>,
    options?: PoolMapOptions & { errors?: "throw" | "throw-after-drain"; spread?: false },
  ): AsyncIterableIterator<OutputOf<D>> & { readonly length?: number };
  /** Map with `errors: "collect"`: each result is `{ok, value | error, index}`. */
  map(
    source: AnyIterable<InputOf<D>>,
    options: PoolMapOptions & { errors: "collect"; spread?: false },
  ): AsyncIterableIterator<Settled<OutputOf<D>>> & { readonly length?: number };
  /** Map with `spread: true`: each item is the argument list of `process`. */
  map(
    source: AnyIterable<ArgsOf<D>>,
    options: PoolMapOptions & { errors?: "throw" | "throw-after-drain"; spread: true },
  ): AsyncIterableIterator<OutputOf<D>> & { readonly length?: number };
  /** Map with `spread: true` and `errors: "collect"`. */
  map(
    source: AnyIterable<ArgsOf<D>>,
    options: PoolMapOptions & { errors: "collect"; spread: true },
  ): AsyncIterableIterator<Settled<OutputOf<D>>> & { readonly length?: number };
  /** Map with options only known at run time (e.g. a `PoolMapOptions` variable). */
  map(
    source: AnyIterable<InputOf<D> | ArgsOf<D>>,
    options?: PoolMapOptions,
  ): AsyncIterableIterator<OutputOf<D> | Settled<OutputOf<D>>> & { readonly length?: number };
  map(
    source: AnyIterable<unknown>,
    options: PoolMapOptions = {},
  ): AsyncIterableIterator<unknown> & { readonly length?: number } {
    const action = "map over the worker pool";
    optionsOf(action, options, MAP_KEYS);
    const ordered = optionalBoolean(action, "ordered", options.ordered) ?? true;
    const spread = optionalBoolean(action, "spread", options.spread) ?? false;
    const chunkSize = options.chunkSize ?? 1;
    if (chunkSize !== "auto") assertInteger(action, "chunkSize", chunkSize, 1);
    const errors = options.errors ?? "throw";
    if (errors !== "throw" && errors !== "throw-after-drain" && errors !== "collect") {
      throw new InvalidArgumentError(
        action,
        'errors must be "throw", "throw-after-drain" or "collect"',
        { received: errors },
      );
    }
    const t = options.transfer ?? false;
    if (typeof t !== "boolean" && typeof t !== "function") {
      throw new InvalidArgumentError(action, "transfer must be a boolean or a function", {
        received: t,
      });
    }
    const defaultWindow = chunkSize === "auto"
      ? 8192
      : chunkSize === 1
      ? 4 * this.size * this.#depth
      : 4 * this.size * this.#depth * chunkSize;
    const maxInFlight = assertInteger(
      action,
      "maxInFlight",
      options.maxInFlight ?? defaultWindow,
      1,
    );
    const timeoutMs = options.timeoutMs === undefined
      ? 0
      : assertNumber(action, "timeoutMs", options.timeoutMs, 1);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new InvalidArgumentError(action, "signal must be an AbortSignal", {
        received: options.signal,
      });
    }
    if (source === null || source === undefined) {
      throw new InvalidArgumentError(
        action,
        "the source must be an iterable or async iterable",
        { received: source },
      );
    }
    if (this.#closed) throw new ClosedError(action, "the pool is closed");
    const run = new MapRun(this.#scheduler, source, {
      maxInFlight,
      ordered,
      errors,
      spread,
      chunkSize,
      transfer: t,
      timeoutMs,
      signal: options.signal,
    });
    return withLength(run, lengthOf(source));
  }

  /**
   * Per-worker figures (tasks, busy, idle and init time, restarts, threads still running).
   *
   * @param options none yet (an object with unknown keys is refused)
   */
  insights(options?: Record<string, never>): WorkerInsights[] {
    optionsOf("get worker pool insights", options, []);
    const now = performance.now();
    return this.#slots.map((s) => {
      const live = s.liveMs + (s.readyAt > 0 ? now - s.readyAt : 0);
      return {
        index: s.index,
        state: s.state,
        tasks: s.tasks,
        chunks: s.chunks,
        busyMs: s.busyMs,
        idleMs: Math.max(0, live - s.busyMs),
        initMs: s.initMs,
        restarts: s.restarts,
        stuckThreads: s.stuckThreads,
      };
    });
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stop every worker (each gets `closeTimeoutMs` to run `dispose`), fail active maps with
   * `ClosedError`. Idempotent (every call returns the same promise).
   *
   * @param options none yet (an object with unknown keys is refused)
   * @throws {WorkerDisposeError} once every worker is stopped, when a worker's `dispose` failed
   */
  close(options?: Record<string, never>): Promise<void> {
    try {
      optionsOf("close the worker pool", options, []);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const run of [...this.#runs]) {
      run.fail(new ClosedError("map over the worker pool", "the pool was closed"));
    }
    await Promise.all(this.#slots.map((s) => this.#stopSlot(s)));
    while (this.#terminating.size) await Promise.all([...this.#terminating]);
    const stuck = this.#slots.filter((s) => s.stuckThreads > 0);
    if (stuck.length > 0) {
      const n = stuck.reduce((a, s) => a + s.stuckThreads, 0);
      this.#warn(
        stuck[0]!.index,
        `the pool closed with ${n} thread${n > 1 ? "s" : ""} still running (worker ${
          stuck.map((s) => s.index).join(", ")
        }): Deno cannot stop a thread busy in JavaScript, so this process will not exit by ` +
          'itself (end it with Deno.exit()); use kind: "process" for tasks that may not return',
      );
    }
    if (this.#disposeError !== undefined) throw this.#disposeError;
  }

  async #stopSlot(slot: Slot): Promise<void> {
    const ready = slot.state === "ready" && slot.handle !== undefined;
    const starting = slot.state === "starting" && slot.handle !== undefined;
    if (slot.readyAt > 0) slot.liveMs += performance.now() - slot.readyAt;
    slot.readyAt = 0;
    slot.state = "closed";
    if (slot.timer !== undefined) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    if (slot.started) slot.started(new ClosedError(ACTION, "the pool was closed while starting"));
    let disposed = false;
    if (ready && this.#closeTimeoutMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      disposed = await new Promise<boolean>((resolve) => {
        slot.disposed = () => resolve(true);
        timer = setTimeout(() => resolve(false), this.#closeTimeoutMs);
        try {
          slot.handle!.post({ t: "stop" });
        } catch {
          resolve(false);
        }
      });
      clearTimeout(timer);
      slot.disposed = undefined;
    }
    const h = slot.handle;
    slot.handle = undefined;
    if (!h) return;
    // A thread that did not stop by itself may be busy in JavaScript: check it really stops.
    if ((ready || starting) && !disposed && this.kind === "worker") {
      await this.#terminateChecked(
        slot,
        h,
        ready ? "did not stop at close()" : "was still in init at close()",
      );
    } else {
      await h.terminate().catch(() => {});
    }
  }

  /** Same as {@linkcode WorkerPool.close} (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export type { EncodedError };
