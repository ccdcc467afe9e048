/**
 * One `pool.map` in progress: the run's state machine (chunks at the workers, error policies,
 * ending) and the async iterator handed to the caller. The source side (pulling, chunk forming,
 * the `maxInFlight` window, pass-through inputs) is a {@linkcode MapSource} (`map_source.ts`);
 * results wait in a {@linkcode ResultStore} (`results.ts`: ordered or unordered).
 *
 * @module
 */

import { abortError } from "../_internal/abort.ts";
import { ClosedError, InvalidArgumentError, SpoolError } from "../errors.ts";
import { decodeError, type EncodedError, TaskError } from "./errors.ts";
import type { MapSettings } from "./map_options.ts";
import { MapSource, type SourceOwner, type SourcePool } from "./map_source.ts";
import { collectTransferables, ISOLATE, SPREAD, TRANSFER } from "./protocol.ts";
import {
  FAILED,
  OK,
  OrderedResults,
  PASSED,
  type ResultStore,
  UnorderedResults,
} from "./results.ts";

const ACTION = "map over the worker pool";

/**
 * A result of a map with `errors: "collect"`: the worker's value or its error, the input index,
 * and the input as given (the argument list with `spread: true`; an ArrayBuffer moved with
 * `transfer` is detached). With `passThrough`, an input that skipped the workers comes out as
 * `{ ok: true, passed: true, value: input, input, index }` (`P` is its type; `never` without
 * `passThrough`).
 */
export type Settled<T, I = unknown, P = never> =
  | {
    readonly ok: true;
    readonly value: T;
    readonly index: number;
    readonly input: I;
    readonly passed?: false;
  }
  | { readonly ok: false; readonly error: TaskError; readonly index: number; readonly input: I }
  | ([P] extends [never] ? never : {
    readonly ok: true;
    readonly passed: true;
    readonly value: P;
    readonly index: number;
    readonly input: P;
  });

/** A unit of work sent to one worker: consecutive inputs of one map. */
export interface Chunk {
  id: number;
  run: MapRun;
  start: number;
  items: unknown[];
  sentAt: number;
  retries: number;
  /** Sent with the ISOLATE flag (after a silent worker death made it a suspect). */
  isolate: boolean;
}

/** What a map needs from the pool (its source side needs {@linkcode SourcePool}). */
export interface PoolPort extends SourcePool {
  /** The pool's readiness. */
  whenReady(): Promise<void>;
  /** Register an active map. */
  attach(run: MapRun): void;
  /** Unregister a map that ended. */
  detach(run: MapRun): void;
  /** Next chunk id. */
  nextId(): number;
}

/** The state and the result iterator of one `pool.map`. */
export class MapRun implements AsyncIterableIterator<unknown>, SourceOwner<Chunk> {
  readonly #pool: PoolPort;
  readonly #source: MapSource<Chunk>;
  readonly #options: MapSettings;
  /** Protocol flags of the map's chunks. */
  readonly flags: number;
  /** Per-input time limit (0: none). */
  readonly timeoutMs: number;
  /** The map's key (`PoolMapOptions.key`: only a NATS pool uses it). */
  readonly key: string | undefined;
  #started = false;
  /** Set once the map ended (done, failed, returned). */
  closed = false;
  /** Chunks sent to a worker and not completed. */
  outstanding = 0;
  #results: ResultStore;
  #error: unknown = undefined;
  #hasError = false;
  /** throw-after-drain: the error to raise once drained (lowest index when ordered). */
  #drainError: TaskError | undefined;
  #waiter:
    | { resolve: (r: IteratorResult<unknown>) => void; reject: (e: unknown) => void }
    | undefined;
  #onAbort: (() => void) | undefined;

  /** @internal */
  constructor(pool: PoolPort, source: unknown, settings: MapSettings) {
    this.#pool = pool;
    this.#source = new MapSource<Chunk>(this, pool, source, settings);
    this.#options = settings;
    // With a time limit, replies are flushed per chunk so a timeout blames the right chunk.
    this.flags = (settings.spread ? SPREAD : 0) | (settings.transfer ? TRANSFER : 0) |
      (settings.timeoutMs > 0 ? ISOLATE : 0);
    this.timeoutMs = settings.timeoutMs;
    this.key = settings.key;
    const keepInputs = settings.errors === "collect";
    this.#results = settings.ordered
      ? new OrderedResults(settings.maxInFlight, keepInputs)
      : new UnorderedResults(keepInputs, settings.errors === "throw-after-drain");
  }

  /** Chunks waiting to be sent. */
  get pendingCount(): number {
    return this.#source.pendingCount;
  }

  /** Take the next chunk to send (the pool calls this only when `pendingCount > 0`). */
  takePending(): Chunk {
    const chunk = this.#source.take();
    this.outstanding++;
    return chunk;
  }

  /**
   * Put chunks back at the front of the queue, in the order given (their worker died before
   * finishing them: they run again before anything newer, in their original order).
   */
  requeue(chunks: readonly Chunk[]): void {
    this.outstanding -= chunks.length;
    if (this.closed) return;
    this.#source.unshift(chunks);
  }

  /**
   * A taken chunk could not be sent to a worker. `why(item, index)` says why an item cannot be
   * sent (or `undefined` when it can): those inputs fail alone, the others are queued again one
   * by one at the front. When no single item is to blame, every input fails with `fallback`.
   */
  rejectUnsendable(
    chunk: Chunk,
    worker: number,
    why: (item: unknown, index: number) => Error | undefined,
    fallback: Error,
  ): void {
    const items = chunk.items;
    const reasons = items.map((item, i) => why(item, chunk.start + i));
    if (reasons.every((r) => r === undefined)) {
      this.failChunk(chunk, worker, fallback);
      return;
    }
    this.outstanding--;
    const good: Chunk[] = [];
    for (let i = 0; i < items.length; i++) {
      const piece = this.chunkOf(chunk.start + i, [items[i]]);
      piece.retries = chunk.retries;
      piece.isolate = chunk.isolate;
      const reason = reasons[i];
      if (reason === undefined) {
        good.push(piece);
        continue;
      }
      this.outstanding++;
      this.failChunk(piece, worker, reason);
      if (this.closed) return;
    }
    this.#source.unshift(good);
    this.#pool.schedule();
  }

  /** Transfer list of a chunk's inputs. */
  transferOf(items: unknown[], out: Transferable[]): void {
    const transfer = this.#options.transfer;
    if (transfer === true) collectTransferables(items, out, 3);
    else if (typeof transfer === "function") {
      for (const item of items) {
        const list: unknown = transfer(item);
        if (!Array.isArray(list)) {
          throw new InvalidArgumentError(
            ACTION,
            "transfer(input) must return an array of Transferable",
            { received: list },
          );
        }
        for (const b of list as Transferable[]) if (!out.includes(b)) out.push(b);
      }
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Open the source, watch the signal, register with the pool; the first fill once it is ready. */
  #start(): void {
    this.#started = true;
    const signal = this.#options.signal;
    try {
      this.#source.open();
    } catch (e) {
      this.#fail(e);
      return;
    }
    if (signal?.aborted) {
      this.#fail(abortError(ACTION, signal));
      return;
    }
    if (signal) {
      this.#onAbort = () => this.#fail(abortError(ACTION, signal));
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    this.#pool.attach(this);
    this.#pool.whenReady().then(() => this.#source.fill(), (e) => this.#fail(e));
  }

  /** @internal A new chunk of consecutive inputs (the source side forms them). */
  chunkOf(start: number, items: unknown[]): Chunk {
    return {
      id: this.#pool.nextId(),
      run: this,
      start,
      items,
      sentAt: 0,
      retries: 0,
      isolate: false,
    };
  }

  /** @internal Ordered map: a pass-through input waits in the result window at its place. */
  storePassed(index: number, item: unknown): void {
    this.#results.storeOne(index, item, PASSED, item);
  }

  /** Whether inputs are waiting in a partial chunk (async sources). */
  get hasPartial(): boolean {
    return this.#source.hasPartial;
  }

  /** Turn the partial chunk into a sendable one (a worker is idle: do not wait to fill it). */
  flushPartial(): void {
    this.#source.flushPartial();
  }

  // ---------------------------------------------------------------- worker side

  /** A chunk's results arrived (`failures`: positions of failed inputs, or 0). */
  complete(
    chunk: Chunk,
    values: unknown[],
    failures: number[] | 0,
    busyMs: number,
    worker: number,
  ): void {
    this.outstanding--;
    if (this.closed) return;
    this.#source.measure(busyMs, values.length);
    if (failures !== 0) {
      const policy = this.#options.errors;
      for (let f = 0; f < failures.length; f++) {
        const i = failures[f]!;
        const error = new TaskError(chunk.start + i, worker, asError(values[i]), chunk.items[i]);
        if (policy === "throw") {
          this.#fail(error);
          return;
        }
        values[i] = error;
        if (policy === "throw-after-drain") this.#beginDrain(error);
      }
    }
    this.#results.store(chunk.start, values, failures, chunk.items);
    this.wake();
  }

  /** Every input of a chunk failed (worker crash, timeout). */
  failChunk(chunk: Chunk, worker: number, cause: Error): void {
    const failures: number[] = [];
    const values: unknown[] = [];
    for (let i = 0; i < chunk.items.length; i++) {
      failures.push(i);
      values.push(cause);
    }
    this.complete(chunk, values, failures, -1, worker);
  }

  #beginDrain(error: TaskError): void {
    const first = this.#drainError;
    if (first === undefined || (this.#options.ordered && error.index < first.index)) {
      this.#drainError = error;
    }
    this.#source.stop();
  }

  /** Fail the map now (throw policy, abort, source error, pool closed). */
  fail(error: unknown): void {
    this.#fail(error);
  }

  #fail(error: unknown): void {
    if (this.#hasError || this.closed) return;
    this.#hasError = true;
    this.#error = error;
    this.#cleanup();
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.reject(error);
    }
  }

  /** @internal Give the waiting consumer a result if one is due. */
  wake(): void {
    const w = this.#waiter;
    if (!w) return;
    // Clear first: #poll may refill the window, and a refill may call wake() again.
    this.#waiter = undefined;
    const r = this.#poll();
    if (r === undefined) {
      this.#waiter ??= w;
      return;
    }
    if (r === THROW) w.reject(this.#takeError());
    else w.resolve(r);
  }

  // ---------------------------------------------------------------- consumer side

  #takeError(): unknown {
    this.#cleanup();
    return this.#error;
  }

  /** Next result if one can be given now; THROW if an error must be raised; undefined to wait. */
  #poll(): IteratorResult<unknown> | typeof THROW | undefined {
    if (this.#hasError) return THROW;
    const results = this.#results;
    const source = this.#source;
    const drainError = this.#drainError;
    if (results.poll(drainError === undefined ? Infinity : drainError.index)) {
      source.release();
      return {
        value: this.#resultOf(results.tag, results.value, results.index, results.input),
        done: false,
      };
    }
    if (source.fenceDue(this.outstanding)) {
      // Every input before the fence is out: release it, then read on.
      const index = source.fenceIndex;
      const item = source.takeFence();
      return { value: this.#resultOf(PASSED, item, index, item), done: false };
    }
    if (drainError !== undefined) {
      if (this.outstanding === 0) {
        this.#hasError = true;
        this.#error = drainError;
        return THROW;
      }
      return undefined;
    }
    if (source.exhausted) {
      this.#cleanup();
      return { value: undefined, done: true };
    }
    return undefined;
  }

  /** What the consumer gets for one result. */
  #resultOf(tag: number, value: unknown, index: number, input: unknown): unknown {
    if (this.#options.errors !== "collect") return value;
    if (tag === OK) return { ok: true, value, index, input };
    if (tag === FAILED) return { ok: false, error: value, index, input };
    return { ok: true, value, index, input, passed: true };
  }

  /** Next result (the async iterator protocol). */
  next(): Promise<IteratorResult<unknown>> {
    if (!this.#started) {
      if (this.closed) return Promise.resolve({ value: undefined, done: true });
      if (this.#pool.isClosed()) {
        return Promise.reject(new ClosedError(ACTION, "the pool is closed"));
      }
      this.#start();
    }
    if (this.closed && !this.#hasError) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) {
      // A caller's misuse (two next() calls without awaiting the first), not a broken invariant.
      return Promise.reject(
        new SpoolError(
          "get the next result of pool.map",
          "next() was called while a previous next() is pending",
        ),
      );
    }
    const r = this.#poll();
    if (r === THROW) return Promise.reject(this.#takeError());
    if (r !== undefined) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Stop the map early (`break` in a `for await` calls this). */
  return(value?: unknown): Promise<IteratorResult<unknown>> {
    this.#hasError = false;
    this.#cleanup();
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
    return Promise.resolve({ value, done: true });
  }

  #cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.#source.stop();
    if (this.#started) this.#pool.detach(this);
    if (this.#onAbort) this.#options.signal!.removeEventListener("abort", this.#onAbort);
    this.#results.clear();
    this.#source.close();
  }
}

const THROW = Symbol("throw");

/** A worker's encoded error, or an Error built on the main side (crash, timeout). */
function asError(v: unknown): Error {
  return v instanceof Error ? v : decodeError(v as EncodedError);
}
