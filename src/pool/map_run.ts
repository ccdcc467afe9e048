/**
 * One `pool.map` in progress: lazy bounded pulling from the source, chunk forming, inputs that
 * pass through (`passThrough`), error policies, and the async iterator handed to the caller.
 * Results wait in a {@linkcode ResultStore} (`results.ts`: ordered or unordered).
 *
 * @module
 */

import { abortError } from "../_internal/abort.ts";
import { openSource, resultOf } from "../_internal/iterate.ts";
import { Ring } from "../_internal/ring.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";
import { ClosedError, InternalError, InvalidArgumentError, SpoolError } from "../errors.ts";
import { decodeError, type EncodedError, TaskError } from "./errors.ts";
import type { MapSettings } from "./map_options.ts";
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

/** What a map needs from the pool. */
export interface PoolPort {
  /** Ask for a dispatch round soon. */
  schedule(): void;
  /** A worker could take a chunk now and nothing is waiting for one. */
  hungry(): boolean;
  /** The pool's readiness. */
  whenReady(): Promise<void>;
  /** Register an active map. */
  attach(run: MapRun): void;
  /** Unregister a map that ended. */
  detach(run: MapRun): void;
  /** Number of workers. */
  size: number;
  /** Chunks in flight per worker. */
  depth: number;
  /** Next chunk id. */
  nextId(): number;
  /** Whether the pool is closed. */
  isClosed(): boolean;
}

/** Target duration of one chunk when `chunkSize: "auto"`. */
const AUTO_TARGET_MS = 1;
const AUTO_MAX = 1024;

/** No unordered fence is held. */
const NO_FENCE = -1;

/** The state and the result iterator of one `pool.map`. */
export class MapRun implements AsyncIterableIterator<unknown> {
  readonly #pool: PoolPort;
  readonly #source: unknown;
  readonly #options: MapSettings;
  /** Protocol flags of the map's chunks. */
  readonly flags: number;
  /** Per-input time limit (0: none). */
  readonly timeoutMs: number;
  #syncIterator: Iterator<unknown> | undefined;
  #asyncIterator: AsyncIterator<unknown> | undefined;
  #started = false;
  #pulling = false;
  #sourceDone = false;
  /** Set once nothing more is pulled (source done, stop after error, closed). */
  #stopped = false;
  /** Set once the map ended (done, failed, returned). */
  closed = false;
  #pulled = 0;
  #yielded = 0;
  /** Chunks formed but not yet sent. */
  #pending = new Ring<Chunk>(16);
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
  #taskMs = -1;
  /** Inputs pulled from an async source, not yet in a chunk. */
  #partial: unknown[] = [];
  #partialStart = 0;
  /** Unordered map: the pass-through input held until every earlier result is out. */
  #fence: unknown = undefined;
  #fenceIndex = NO_FENCE;
  #onAbort: (() => void) | undefined;

  /** @internal */
  constructor(pool: PoolPort, source: unknown, settings: MapSettings) {
    this.#pool = pool;
    this.#source = source;
    this.#options = settings;
    // With a time limit, replies are flushed per chunk so a timeout blames the right chunk.
    this.flags = (settings.spread ? SPREAD : 0) | (settings.transfer ? TRANSFER : 0) |
      (settings.timeoutMs > 0 ? ISOLATE : 0);
    this.timeoutMs = settings.timeoutMs;
    const keepInputs = settings.errors === "collect";
    this.#results = settings.ordered
      ? new OrderedResults(settings.maxInFlight, keepInputs)
      : new UnorderedResults(keepInputs, settings.errors === "throw-after-drain");
  }

  /** Chunks waiting to be sent. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Take the next chunk to send (the pool calls this only when `pendingCount > 0`). */
  takePending(): Chunk {
    if (this.#pending.length === 0) {
      throw new InternalError(ACTION, "a chunk was taken from a map with none pending");
    }
    this.outstanding++;
    return this.#pending.shift();
  }

  /**
   * Put chunks back at the front of the queue, in the order given (their worker died before
   * finishing them: they run again before anything newer, in their original order).
   */
  requeue(chunks: readonly Chunk[]): void {
    this.outstanding -= chunks.length;
    if (this.closed) return;
    this.#unshift(chunks);
  }

  /** Put chunks at the front of the pending queue (rare: deaths and unsendable inputs). */
  #unshift(chunks: readonly Chunk[]): void {
    if (chunks.length === 0) return;
    const old = this.#pending;
    const queue = new Ring<Chunk>(chunks.length + old.length);
    for (const c of chunks) queue.push(c);
    while (old.length > 0) queue.push(old.shift());
    this.#pending = queue;
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
      const piece = this.#chunkOf(chunk.start + i, [items[i]]);
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
    this.#unshift(good);
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

  // ---------------------------------------------------------------- source side

  #start(): void {
    this.#started = true;
    const signal = this.#options.signal;
    try {
      // The one source rule of `_internal/iterate.ts` (strings refused).
      const opened = openSource<unknown>(ACTION, this.#source);
      if (opened.async) this.#asyncIterator = opened.async;
      else this.#syncIterator = opened.sync;
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
    this.#pool.whenReady().then(() => this.#fill(), (e) => this.#fail(e));
  }

  #chunkSize(): number {
    const size = this.#options.chunkSize;
    if (size !== "auto") return size;
    const pool = this.#pool;
    const cap = Math.max(
      1,
      Math.min(AUTO_MAX, Math.floor(this.#options.maxInFlight / (pool.size * pool.depth))),
    );
    if (this.#taskMs < 0) return 1;
    return Math.max(1, Math.min(cap, Math.round(AUTO_TARGET_MS / Math.max(this.#taskMs, 1e-6))));
  }

  /** Items the window may hold now (a smaller probe window until "auto" has a measurement). */
  #limit(): number {
    if (this.#options.chunkSize === "auto" && this.#taskMs < 0) {
      return Math.min(this.#options.maxInFlight, this.#pool.size * this.#pool.depth);
    }
    return this.#options.maxInFlight;
  }

  #chunkOf(start: number, items: unknown[]): Chunk {
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

  #push(start: number, items: unknown[]): void {
    this.#pending.push(this.#chunkOf(start, items));
  }

  /**
   * An input that skips the workers (`passThrough`), at input position `#pulled`. Ordered: it
   * waits in the result window at its place. Unordered: it is a fence (held until every earlier
   * result is out; nothing later is read meanwhile). Returns whether pulling must pause.
   */
  #passThrough(item: unknown): boolean {
    const index = this.#pulled++;
    if (this.#options.ordered) {
      this.#results.storeOne(index, item, PASSED, item);
      return false;
    }
    this.#fence = item;
    this.#fenceIndex = index;
    return true;
  }

  #fill(): void {
    if (
      this.#pulling || this.#stopped || this.closed || this.#fenceIndex !== NO_FENCE ||
      this.#pool.isClosed()
    ) return;
    const limit = this.#limit();
    const free = limit - (this.#pulled - this.#yielded);
    const chunkSize = this.#chunkSize();
    if (free <= 0 || (free < chunkSize && this.#pulled > 0 && this.#pulled - this.#yielded > 0)) {
      return;
    }
    if (this.#syncIterator) this.#fillSync(limit, chunkSize);
    else this.#fillAsync();
  }

  #fillSync(limit: number, chunkSize: number): void {
    const it = this.#syncIterator!;
    const pass = this.#options.passThrough;
    let paused = false;
    let passed = false;
    try {
      outer: while (this.#pulled - this.#yielded < limit) {
        const n = Math.min(chunkSize, limit - (this.#pulled - this.#yielded));
        let items: unknown[] = [];
        for (let taken = 0; taken < n; taken++) {
          const r = resultOf(ACTION, it.next());
          if (r.done) {
            this.#sourceDone = this.#stopped = true;
            break;
          }
          if (pass !== undefined && pass(r.value)) {
            // The chunk ends before a pass-through input (a chunk holds consecutive inputs).
            if (items.length > 0) {
              this.#push(this.#pulled, items);
              this.#pulled += items.length;
              items = [];
            }
            passed = true;
            if (this.#passThrough(r.value)) break outer;
            continue;
          }
          items.push(r.value);
        }
        if (items.length) {
          this.#push(this.#pulled, items);
          this.#pulled += items.length;
        }
        if (this.#sourceDone) break;
        // A large window filled from a fast sync source: let timers and messages in, then go on
        // (`#pulling` keeps any other fill out meanwhile).
        if (turnDue()) {
          paused = true;
          break;
        }
      }
    } catch (e) {
      this.#fail(e);
      return;
    }
    this.#pool.schedule();
    if (this.#sourceDone || passed) this.#wake();
    if (paused && !this.#sourceDone && !this.closed) {
      this.#pulling = true;
      giveTurn().then(() => {
        this.#pulling = false;
        this.#fill();
      });
    }
  }

  async #fillAsync(): Promise<void> {
    this.#pulling = true;
    const it = this.#asyncIterator!;
    const pass = this.#options.passThrough;
    let passed = false;
    try {
      let chunkSize = this.#chunkSize();
      let limit = this.#limit();
      while (!this.#stopped && !this.closed && this.#pulled - this.#yielded < limit) {
        const r = resultOf<unknown>(ACTION, await it.next());
        if (this.closed || this.#stopped) break;
        if (r.done) {
          this.#sourceDone = this.#stopped = true;
          break;
        }
        if (pass !== undefined && pass(r.value)) {
          this.flushPartial();
          passed = true;
          if (this.#passThrough(r.value)) break;
          this.#wake(); // it may be the result due: an async source may take long to go on
          continue;
        }
        if (this.#partial.length === 0) this.#partialStart = this.#pulled;
        this.#partial.push(r.value);
        this.#pulled++;
        if (
          this.#partial.length >= chunkSize || this.#pulled - this.#yielded >= limit ||
          this.#pool.hungry()
        ) {
          this.flushPartial();
          this.#pool.schedule();
          chunkSize = this.#chunkSize();
          limit = this.#limit();
        }
        // An in-memory async source resolves at once: let timers and messages in.
        if (turnDue()) await giveTurn();
      }
    } catch (e) {
      this.#pulling = false;
      this.#fail(e);
      return;
    }
    this.#pulling = false;
    if (this.closed) return;
    if (this.#sourceDone || this.#fenceIndex !== NO_FENCE) this.flushPartial();
    else if (this.#stopped) {
      // cancelled (error policy): the partial chunk is never sent
      this.#partial = [];
    }
    this.#pool.schedule();
    if (this.#sourceDone || passed) this.#wake();
    if (!this.#sourceDone && !this.#stopped) this.#fill();
  }

  /** Whether inputs are waiting in a partial chunk (async sources). */
  get hasPartial(): boolean {
    return this.#partial.length > 0;
  }

  /** Turn the partial chunk into a sendable one (a worker is idle: do not wait to fill it). */
  flushPartial(): void {
    if (this.#partial.length === 0) return;
    this.#push(this.#partialStart, this.#partial);
    this.#partial = [];
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
    if (this.#options.chunkSize === "auto" && busyMs >= 0) {
      const per = busyMs / values.length;
      const first = this.#taskMs < 0;
      this.#taskMs = first ? per : this.#taskMs * 0.7 + per * 0.3;
      if (first) queueMicrotask(() => this.#fill());
    }
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
    this.#wake();
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
    this.#stopPulling();
  }

  #stopPulling(): void {
    this.#stopped = true;
    // Cancel what is queued but not sent; shrink the window accordingly.
    const pending = this.#pending;
    while (pending.length > 0) this.#pulled = Math.min(this.#pulled, pending.shift().start);
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

  #wake(): void {
    const w = this.#waiter;
    if (!w) return;
    // Clear first: #poll may refill the window, and a refill may call #wake again.
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
    const drainError = this.#drainError;
    if (results.poll(drainError === undefined ? Infinity : drainError.index)) {
      this.#yielded++;
      this.#refill();
      return {
        value: this.#resultOf(results.tag, results.value, results.index, results.input),
        done: false,
      };
    }
    if (
      this.#fenceIndex !== NO_FENCE && this.outstanding === 0 && this.#pending.length === 0 &&
      this.#partial.length === 0
    ) {
      // Every input before the fence is out: release it, then read on.
      const item = this.#fence;
      const index = this.#fenceIndex;
      this.#fence = undefined;
      this.#fenceIndex = NO_FENCE;
      this.#yielded++;
      this.#refill();
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
    if (this.#sourceDone && this.#yielded === this.#pulled && this.#pending.length === 0) {
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

  #refill(): void {
    if (!this.#stopped && !this.#pulling) {
      const free = this.#limit() - (this.#pulled - this.#yielded);
      if (free >= this.#chunkSize() || this.#pulled === this.#yielded) this.#fill();
    }
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
    this.#stopPulling();
    if (this.#started) this.#pool.detach(this);
    if (this.#onAbort) this.#options.signal!.removeEventListener("abort", this.#onAbort);
    this.#results.clear();
    this.#fence = undefined;
    if (!this.#sourceDone) {
      this.#sourceDone = true;
      try {
        const it = this.#asyncIterator ?? this.#syncIterator;
        const p = it?.return?.();
        if (p && typeof (p as Promise<unknown>).then === "function") {
          (p as Promise<unknown>).catch(() => {});
        }
      } catch { /* a failing return() must not hide the real outcome */ }
    }
  }
}

const THROW = Symbol("throw");

/** A worker's encoded error, or an Error built on the main side (crash, timeout). */
function asError(v: unknown): Error {
  return v instanceof Error ? v : decodeError(v as EncodedError);
}
