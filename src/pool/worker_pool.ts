/**
 * `WorkerPool`: stateful workers (threads or processes) serving lazy, bounded, fair maps. This
 * file is the facade (options, start, map, insights, close); a worker's lifecycle is in
 * `worker_slot.ts`, crash attribution in `crash_culprit.ts`, the dispatch policy in
 * `dispatch.ts`, the backends behind `transport.ts`, one map in `map_run.ts`.
 *
 * @module
 */

import { assertInteger, assertNumber, ClosedError, InvalidArgumentError } from "../errors.ts";
import {
  optionalFunction,
  optionalOneOf,
  optionalString,
  optionsOf,
} from "../_internal/options.ts";
import { type AnyIterable, lengthOf, withLength } from "../stream/sized.ts";
import type { AnyWorkerDefinition, ArgsOf, InputOf, OutputOf } from "./define.ts";
import { Dispatcher, LeastLoadedPolicy } from "./dispatch.ts";
import {
  mergeArgs,
  POOL_KEYS,
  type PoolOptions,
  type PoolWarning,
  resolveModule,
  type WorkerInsights,
} from "./pool_options.ts";
import type { EncodedError, WorkerDisposeError } from "./errors.ts";
import { mapSettingsOf, type PoolMapOptions } from "./map_options.ts";
import { MapRun, type PoolPort, type Settled } from "./map_run.ts";
import type { InitMessage } from "./protocol.ts";
import type { WorkerTransport } from "./transport.ts";
import { transportOf } from "./transport_of.ts";
import { type SlotHost, WorkerSlot } from "./worker_slot.ts";

const ACTION = "start worker pool";

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
  readonly #slots: WorkerSlot[] = [];
  readonly #runs: MapRun[] = [];
  readonly #depth: number;
  readonly #closeTimeoutMs: number;
  readonly #terminating = new Set<Promise<void>>();
  readonly #onWarning: (warning: PoolWarning) => void;
  readonly #dispatcher: Dispatcher;
  #chunkId = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #startDone = false;
  #disposeError: WorkerDisposeError | undefined;
  readonly #port: PoolPort;

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
    const module = resolveModule(o.module as string | URL);
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
    const exportName = optionalString(ACTION, "exportName", o.exportName) ?? "default";
    const denoArgs = o.denoArgs ?? ["-A"];
    if (!Array.isArray(denoArgs) || !denoArgs.every((a) => typeof a === "string")) {
      throw new InvalidArgumentError(ACTION, "denoArgs must be an array of strings", {
        received: denoArgs,
      });
    }
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
    const inits: InitMessage[] = [];
    for (let i = 0; i < this.size; i++) {
      inits.push({
        t: "init",
        module,
        exportName,
        args: mergeArgs(options.init, per?.[i]),
        index: i,
        size: this.size,
        kind: this.kind,
      });
    }
    const policy = new LeastLoadedPolicy(this.#depth);
    this.#dispatcher = new Dispatcher(this.#slots, this.#runs, policy, () => this.#closed);
    const host = this.#slotHost(transportOf(this.kind, { denoArgs }), inits, policy);
    for (let i = 0; i < this.size; i++) {
      this.#slots.push(new WorkerSlot(host, i, policy.initialDepth()));
    }
    this.#port = {
      schedule: () => this.#dispatcher.schedule(),
      hungry: () => this.#dispatcher.hungry(),
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

  /** What the slots need from the pool. */
  #slotHost(
    transport: WorkerTransport,
    inits: readonly InitMessage[],
    policy: LeastLoadedPolicy,
  ): SlotHost {
    return {
      transport,
      isClosed: () => this.#closed,
      initMessage: (index) => inits[index]!,
      schedule: () => this.#dispatcher.schedule(),
      checkAlive: (error) => this.#checkAlive(error),
      disposeFailed: (error) => {
        this.#disposeError ??= error;
      },
      warn: (index, message) => this.#warn(index, message),
      track: (termination) => {
        this.#terminating.add(termination);
        termination.then(() => this.#terminating.delete(termination));
      },
      adaptDepth: (slot) => policy.adaptDepth(slot),
    };
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
      await Promise.all(this.#slots.map((s) => s.spawn()));
    } catch (error) {
      this.#startDone = true;
      await this.close();
      throw error;
    }
    this.#startDone = true;
    if (this.#closed) throw new ClosedError(ACTION, "the pool was closed while starting");
  }

  #warn(workerIndex: number, message: string): void {
    try {
      this.#onWarning({ code: "thread-still-running", workerIndex, message });
    } catch { /* a failing warning handler must not break the pool */ }
  }

  /** When no worker is alive or starting, every active map fails. */
  #checkAlive(error?: unknown): void {
    if (!this.#startDone) return;
    if (this.#slots.some((s) => s.state === "ready" || s.state === "starting")) return;
    const err = error ?? new ClosedError("map over the worker pool", "every worker is dead");
    for (const run of [...this.#runs]) run.fail(err);
  }

  /**
   * Map `source` through the workers, lazily and with a bounded window. The result is an async
   * iterable (with `length` when the source has one). Items `passThrough` picks skip the workers
   * and come out unchanged at their place (the result type then includes the input type).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { WorkerPool } from "@spool/spool";
   *
   * const source = `export default { process: (_state, x) => x * 2 };`;
   * await using pool = await WorkerPool.start<{
   *   process: (s: undefined, x: number | string) => number;
   * }>({ module: `data:application/javascript,${encodeURIComponent(source)}`, size: 2 });
   * const out: unknown[] = [];
   * const marker = (x: number | string) => typeof x === "string";
   * for await (const r of pool.map([1, "mark", 3], { errors: "collect", passThrough: marker })) {
   *   out.push(r.ok && r.passed ? `passed ${r.input}` : r.ok ? r.value : r.error.message);
   * }
   * assert.deepEqual(out, [2, "passed mark", 6]);
   * ```
   *
   * @param source any iterable or async iterable of inputs
   * @param options ordering, window, error policy, chunking, transfer, timeout, signal,
   * pass-through
   */
  map(
    source: AnyIterable<InputOf<D>>,
    options: PoolMapOptions<InputOf<D>> & {
      errors?: "throw" | "throw-after-drain";
      spread?: false;
      passThrough(item: InputOf<D>): boolean;
    },
  ): AsyncIterableIterator<OutputOf<D> | InputOf<D>> & { readonly length?: number };
  /**
   * Map with `errors: "collect"` and a `passThrough` type guard: the items it picks are of their
   * own type `P` (a caller's markers), `spread` may be known only at run time.
   */
  map<P>(
    source: AnyIterable<InputOf<D> | ArgsOf<D> | P>,
    options: PoolMapOptions<InputOf<D> | ArgsOf<D> | P> & {
      errors: "collect";
      passThrough(item: InputOf<D> | ArgsOf<D> | P): item is P;
    },
  ): AsyncIterableIterator<Settled<OutputOf<D>, InputOf<D> | ArgsOf<D>, P>> & {
    readonly length?: number;
  };
  /** Map with `errors: "collect"` and `passThrough`: passed items come out marked `passed`. */
  map(
    source: AnyIterable<InputOf<D>>,
    options: PoolMapOptions<InputOf<D>> & {
      errors: "collect";
      spread?: false;
      passThrough(item: InputOf<D>): boolean;
    },
  ): AsyncIterableIterator<Settled<OutputOf<D>, InputOf<D>, InputOf<D>>> & {
    readonly length?: number;
  };
  /** Map with `spread: true` and `passThrough`. */
  map(
    source: AnyIterable<ArgsOf<D>>,
    options: PoolMapOptions<ArgsOf<D>> & {
      errors?: "throw" | "throw-after-drain";
      spread: true;
      passThrough(item: ArgsOf<D>): boolean;
    },
  ): AsyncIterableIterator<OutputOf<D> | ArgsOf<D>> & { readonly length?: number };
  /** Map with `spread: true`, `errors: "collect"` and `passThrough`. */
  map(
    source: AnyIterable<ArgsOf<D>>,
    options: PoolMapOptions<ArgsOf<D>> & {
      errors: "collect";
      spread: true;
      passThrough(item: ArgsOf<D>): boolean;
    },
  ): AsyncIterableIterator<Settled<OutputOf<D>, ArgsOf<D>, ArgsOf<D>>> & {
    readonly length?: number;
  };
  /** Map with the default options or `errors: "throw" | "throw-after-drain"`. */
  map(
    source: AnyIterable<InputOf<D>>,
    options?: PoolMapOptions<InputOf<D>> & {
      errors?: "throw" | "throw-after-drain";
      spread?: false;
    },
  ): AsyncIterableIterator<OutputOf<D>> & { readonly length?: number };
  /** Map with `errors: "collect"`: each result is `{ok, value | error, index, input}`. */
  map(
    source: AnyIterable<InputOf<D>>,
    options: PoolMapOptions<InputOf<D>> & { errors: "collect"; spread?: false },
  ): AsyncIterableIterator<Settled<OutputOf<D>, InputOf<D>>> & { readonly length?: number };
  /** Map with `spread: true`: each item is the argument list of `process`. */
  map(
    source: AnyIterable<ArgsOf<D>>,
    options: PoolMapOptions<ArgsOf<D>> & {
      errors?: "throw" | "throw-after-drain";
      spread: true;
    },
  ): AsyncIterableIterator<OutputOf<D>> & { readonly length?: number };
  /** Map with `spread: true` and `errors: "collect"`. */
  map(
    source: AnyIterable<ArgsOf<D>>,
    options: PoolMapOptions<ArgsOf<D>> & { errors: "collect"; spread: true },
  ): AsyncIterableIterator<Settled<OutputOf<D>, ArgsOf<D>>> & { readonly length?: number };
  /** Map with options only known at run time (e.g. a `PoolMapOptions` variable). */
  map(
    source: AnyIterable<InputOf<D> | ArgsOf<D>>,
    options?: PoolMapOptions<InputOf<D> | ArgsOf<D>>,
  ):
    & AsyncIterableIterator<
      | OutputOf<D>
      | InputOf<D>
      | ArgsOf<D>
      | Settled<OutputOf<D>, InputOf<D> | ArgsOf<D>, InputOf<D> | ArgsOf<D>>
    >
    & { readonly length?: number };
  map(
    source: AnyIterable<unknown>,
    options: PoolMapOptions = {},
  ): AsyncIterableIterator<unknown> & { readonly length?: number } {
    const action = "map over the worker pool";
    const settings = mapSettingsOf(action, options, this.size, this.#depth);
    if (source === null || source === undefined) {
      throw new InvalidArgumentError(
        action,
        "the source must be an iterable or async iterable",
        { received: source },
      );
    }
    if (this.#closed) throw new ClosedError(action, "the pool is closed");
    const run = new MapRun(this.#port, source, settings);
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
    await Promise.all(this.#slots.map((s) => s.stop(this.#closeTimeoutMs)));
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

  /** Same as {@linkcode WorkerPool.close} (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

export type { EncodedError, PoolOptions, PoolWarning, WorkerInsights };
