/**
 * `WorkerPool`: stateful workers (threads or processes) serving lazy, bounded, fair maps.
 *
 * @module
 */

import {
  assertInteger,
  assertNumber,
  ClosedError,
  InvalidArgumentError,
  TimeoutError,
} from "../errors.ts";
import { type AnyIterable, lengthOf, withLength } from "../stream/sized.ts";
import type { AnyWorkerDefinition, ArgsOf, InitArgsOf, InputOf, OutputOf } from "./define.ts";
import { decodeError, type EncodedError, WorkerCrashError, WorkerInitError } from "./errors.ts";
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
}

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
    throw new InvalidArgumentError(ACTION, "module must be a URL or a path", module);
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return module;
  return new URL(module, `file://${Deno.cwd().replace(/\/?$/, "/")}`).href;
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
  #rr = 0;
  #scheduled = false;
  #chunkId = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #startDone = false;
  readonly #scheduler: Scheduler;

  /**
   * Start the workers (use `await pool.ready` or {@linkcode WorkerPool.start}).
   *
   * @param options module, size, init arguments, backend
   */
  constructor(options: PoolOptions<D>) {
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError(ACTION, "options must be an object", options);
    }
    this.#module = resolveModule(options.module);
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
    const kind = options.kind ?? "worker";
    if (kind !== "worker" && kind !== "process") {
      throw new InvalidArgumentError(ACTION, 'kind must be "worker" or "process"', kind);
    }
    this.kind = kind;
    this.#exportName = options.exportName ?? "default";
    this.#denoArgs = options.denoArgs ?? ["-A"];
    const per = options.perWorker;
    if (per !== undefined && (!Array.isArray(per) || per.length !== this.size)) {
      throw new InvalidArgumentError(
        ACTION,
        `perWorker must be an array with exactly size (${this.size}) entries`,
        per,
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
    const results = await Promise.allSettled(this.#slots.map((s) => this.#spawn(s)));
    this.#startDone = true;
    const failed = results.findIndex((r) => r.status === "rejected");
    if (failed >= 0) {
      await this.close();
      throw (results[failed] as PromiseRejectedResult).reason;
    }
    if (this.#closed) throw new ClosedError(ACTION, "the pool was closed while starting");
  }

  /** Spawn (or respawn) a slot's worker and initialise it. */
  #spawn(slot: Slot): Promise<void> {
    slot.state = "starting";
    return new Promise<void>((resolve, reject) => {
      slot.started = (error) => {
        slot.started = undefined;
        if (error) reject(new WorkerInitError(slot.index, error));
        else resolve();
      };
      const events: HandleEvents = {
        message: (m) => this.#onMessage(slot, m),
        exit: (reason, error) => this.#onDeath(slot, reason, -1, error),
      };
      try {
        slot.handle = this.kind === "process"
          ? spawnProcess(events, this.#denoArgs)
          : spawnThread(events);
      } catch (e) {
        slot.started = undefined;
        reject(new WorkerInitError(slot.index, e instanceof Error ? e : new Error(String(e))));
        return;
      }
      slot.handle.post({
        t: "init",
        module: this.#module,
        exportName: this.#exportName,
        args: this.#args[slot.index],
        index: slot.index,
        size: this.size,
        kind: this.kind,
      });
    });
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
          this.#checkAlive(new WorkerInitError(slot.index, err));
        }
        return;
      case "crash":
        this.#onDeath(slot, m.reason, m.chunk, m.error ? decodeError(m.error) : undefined);
        return;
      case "disposed":
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
    this.#kill(slot);
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
      ? new TimeoutError(`finish a task within ${inflight[culprit]?.run.timeoutMs} ms`, reason)
      : new WorkerCrashError(slot.index, reason, error);
    for (let i = 0; i < inflight.length; i++) {
      const c = inflight[i]!;
      if (i === culprit || ++c.retries > 3) c.run.failChunk(c, slot.index, cause);
      else {
        if (culprit < 0) c.isolate = true;
        c.run.requeue(c);
      }
    }
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

  #kill(slot: Slot): void {
    if (slot.timer !== undefined) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    const h = slot.handle;
    slot.handle = undefined;
    if (h) {
      const p = h.terminate().catch(() => {});
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
      const out = s.outbox;
      if (out.length === 0) continue;
      s.outbox = [];
      const wire: WireChunk[] = new Array(out.length);
      let transfer: Transferable[] | undefined;
      for (let j = 0; j < out.length; j++) {
        const c = out[j]!;
        wire[j] = [c.id, c.isolate ? c.run.flags | ISOLATE : c.run.flags, c.items];
        if (c.run.flags & 2) c.run.transferOf(c.items, transfer ??= []);
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
      } catch (e) {
        // e.g. an input that cannot be cloned: those chunks fail, the worker is fine
        s.inflight.splice(s.inflight.length - out.length, out.length);
        const err = e instanceof Error ? e : new Error(String(e));
        for (const c of out) c.run.failChunk(c, s.index, err);
      }
    }
  };

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
    if (options === null || typeof options !== "object") {
      throw new InvalidArgumentError(action, "options must be an object", options);
    }
    const chunkSize = options.chunkSize ?? 1;
    if (chunkSize !== "auto") assertInteger(action, "chunkSize", chunkSize, 1);
    const errors = options.errors ?? "throw";
    if (errors !== "throw" && errors !== "throw-after-drain" && errors !== "collect") {
      throw new InvalidArgumentError(
        action,
        'errors must be "throw", "throw-after-drain" or "collect"',
        errors,
      );
    }
    const t = options.transfer ?? false;
    if (typeof t !== "boolean" && typeof t !== "function") {
      throw new InvalidArgumentError(action, "transfer must be a boolean or a function", t);
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
      throw new InvalidArgumentError(action, "signal must be an AbortSignal", options.signal);
    }
    if (source === null || source === undefined) {
      throw new InvalidArgumentError(
        action,
        "the source must be an iterable or async iterable",
        source,
      );
    }
    if (this.#closed) throw new ClosedError(action, "the pool is closed");
    const run = new MapRun(this.#scheduler, source, {
      maxInFlight,
      ordered: options.ordered ?? true,
      errors,
      spread: options.spread ?? false,
      chunkSize,
      transfer: t,
      timeoutMs,
      signal: options.signal,
    });
    return withLength(run, lengthOf(source));
  }

  /** Per-worker figures (tasks, busy, idle and init time, restarts). */
  insights(): WorkerInsights[] {
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
      };
    });
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Stop every worker (each gets `closeTimeoutMs` to run `dispose`), fail active maps with
   * `ClosedError`. Idempotent.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const run of [...this.#runs]) {
      run.fail(new ClosedError("map over the worker pool", "the pool was closed"));
    }
    await Promise.all(this.#slots.map((s) => this.#stopSlot(s)));
    while (this.#terminating.size) await Promise.all([...this.#terminating]);
  }

  async #stopSlot(slot: Slot): Promise<void> {
    const ready = slot.state === "ready" && slot.handle !== undefined;
    if (slot.readyAt > 0) slot.liveMs += performance.now() - slot.readyAt;
    slot.readyAt = 0;
    slot.state = "closed";
    if (slot.timer !== undefined) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    if (slot.started) slot.started(new ClosedError(ACTION, "the pool was closed while starting"));
    if (ready && this.#closeTimeoutMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        slot.disposed = resolve;
        timer = setTimeout(resolve, this.#closeTimeoutMs);
        try {
          slot.handle!.post({ t: "stop" });
        } catch {
          resolve();
        }
      });
      clearTimeout(timer);
      slot.disposed = undefined;
    }
    const h = slot.handle;
    slot.handle = undefined;
    if (h) await h.terminate().catch(() => {});
  }

  /** Same as {@linkcode WorkerPool.close} (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export type { EncodedError };
