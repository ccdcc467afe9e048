/**
 * One `pool.map` in progress: lazy bounded pulling from the source, chunk formation, streaming
 * reorder (or completion order), error policies, and the async iterator handed to the caller.
 *
 * @module
 */

import { abortError } from "../_internal/abort.ts";
import { ClosedError, InvalidArgumentError, SpoolError } from "../errors.ts";
import { decodeError, type EncodedError, TaskError } from "./errors.ts";
import { collectTransferables, ISOLATE, SPREAD, TRANSFER } from "./protocol.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";
import { openSource, resultOf } from "../_internal/iterate.ts";
import type { MapSettings } from "./map_options.ts";

const ACTION = "map over the worker pool";

/** A result of a map with `errors: "collect"`. */
export type Settled<T> =
  | { readonly ok: true; readonly value: T; readonly index: number }
  | { readonly ok: false; readonly error: TaskError; readonly index: number };

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
  /** Register/unregister an active map. */
  attach(run: MapRun): void;
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

const EMPTY = 0;
const OK = 1;
const ERR = 2;
/** Target duration of one chunk when `chunkSize: "auto"`. */
const AUTO_TARGET_MS = 1;
const AUTO_MAX = 1024;

type SyncIt = Iterator<unknown>;
type AsyncIt = AsyncIterator<unknown>;

/** The state and the result iterator of one `pool.map`. */
export class MapRun implements AsyncIterableIterator<unknown> {
  readonly #pool: PoolPort;
  readonly #source: unknown;
  readonly #o: MapSettings;
  readonly flags: number;
  readonly timeoutMs: number;
  #syncIt: SyncIt | undefined;
  #asyncIt: AsyncIt | undefined;
  #started = false;
  #pulling = false;
  #sourceDone = false;
  /** Set once nothing more is pulled (source done, stop after error, closed). */
  #stopped = false;
  closed = false;
  #pulled = 0;
  #yielded = 0;
  /** Chunks formed but not yet sent. */
  readonly #pending: Chunk[] = [];
  #pendingHead = 0;
  /** Chunks sent to a worker and not completed. */
  outstanding = 0;
  // ordered storage (ring indexed by input index modulo capacity)
  #ringV: unknown[] = [];
  #ringF: Uint8Array = new Uint8Array(0);
  // unordered storage (FIFO)
  #qV: unknown[] = [];
  #qF: number[] = [];
  #qI: number[] = [];
  #qHead = 0;
  #error: unknown = undefined;
  #hasError = false;
  /** throw-after-drain: the error to raise once drained (lowest index when ordered). */
  #drainError: TaskError | undefined;
  #waiter:
    | { resolve: (r: IteratorResult<unknown>) => void; reject: (e: unknown) => void }
    | undefined;
  #taskMs = -1;
  /** Inputs pulled from an async source, not yet in a chunk. */
  #cur: unknown[] = [];
  #curStart = 0;
  #onAbort: (() => void) | undefined;

  /** @internal */
  constructor(pool: PoolPort, source: unknown, options: MapSettings) {
    this.#pool = pool;
    this.#source = source;
    this.#o = options;
    // With a time limit, replies are flushed per chunk so a timeout blames the right chunk.
    this.flags = (options.spread ? SPREAD : 0) | (options.transfer ? TRANSFER : 0) |
      (options.timeoutMs > 0 ? ISOLATE : 0);
    this.timeoutMs = options.timeoutMs;
  }

  /** Chunks waiting to be sent. */
  get pendingCount(): number {
    return this.#pending.length - this.#pendingHead;
  }

  /** Take the next chunk to send (the pool calls this only when `pendingCount > 0`). */
  takePending(): Chunk {
    const c = this.#pending[this.#pendingHead]!;
    this.#pending[this.#pendingHead++] = undefined as unknown as Chunk;
    if (this.#pendingHead === this.#pending.length) {
      this.#pending.length = 0;
      this.#pendingHead = 0;
    }
    this.outstanding++;
    return c;
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

  #unshift(chunks: readonly Chunk[]): void {
    const n = chunks.length;
    if (n === 0) return;
    if (this.#pendingHead >= n) {
      this.#pendingHead -= n;
      for (let i = 0; i < n; i++) this.#pending[this.#pendingHead + i] = chunks[i]!;
    } else {
      const rest = this.#pending.slice(this.#pendingHead);
      this.#pending.length = 0;
      this.#pending.push(...chunks, ...rest);
      this.#pendingHead = 0;
    }
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
      const piece: Chunk = {
        id: this.#pool.nextId(),
        run: this,
        start: chunk.start + i,
        items: [items[i]],
        sentAt: 0,
        retries: chunk.retries,
        isolate: chunk.isolate,
      };
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
    const t = this.#o.transfer;
    if (t === true) collectTransferables(items, out, 3);
    else if (typeof t === "function") {
      for (const item of items) {
        const list: unknown = t(item);
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
    const o = this.#o;
    if (o.ordered) {
      this.#ringV = new Array(o.maxInFlight);
      this.#ringF = new Uint8Array(o.maxInFlight);
    }
    try {
      // The stream area's rule (strings refused, iterator methods must be functions).
      const opened = openSource<unknown>(ACTION, this.#source);
      if (opened.async) this.#asyncIt = opened.async as AsyncIt;
      else this.#syncIt = opened.sync as SyncIt;
    } catch (e) {
      this.#fail(e);
      return;
    }
    if (o.signal?.aborted) {
      this.#fail(
        abortError("map over the worker pool", o.signal),
      );
      return;
    }
    if (o.signal) {
      this.#onAbort = () =>
        this.#fail(
          abortError("map over the worker pool", o.signal!),
        );
      o.signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    this.#pool.attach(this);
    this.#pool.whenReady().then(() => this.#fill(), (e) => this.#fail(e));
  }

  #chunkSize(): number {
    const c = this.#o.chunkSize;
    if (c !== "auto") return c;
    const cap = Math.max(
      1,
      Math.min(AUTO_MAX, Math.floor(this.#o.maxInFlight / (this.#pool.size * this.#pool.depth))),
    );
    if (this.#taskMs < 0) return 1;
    return Math.max(1, Math.min(cap, Math.round(AUTO_TARGET_MS / Math.max(this.#taskMs, 1e-6))));
  }

  /** Items the window may hold now (a smaller probe window until "auto" has a measurement). */
  #limit(): number {
    if (this.#o.chunkSize === "auto" && this.#taskMs < 0) {
      return Math.min(this.#o.maxInFlight, this.#pool.size * this.#pool.depth);
    }
    return this.#o.maxInFlight;
  }

  #push(start: number, items: unknown[]): void {
    this.#pending.push({
      id: this.#pool.nextId(),
      run: this,
      start,
      items,
      sentAt: 0,
      retries: 0,
      isolate: false,
    });
  }

  #fill(): void {
    if (this.#pulling || this.#stopped || this.closed || this.#pool.isClosed()) return;
    const limit = this.#limit();
    const free = limit - (this.#pulled - this.#yielded);
    const cs = this.#chunkSize();
    if (free <= 0 || (free < cs && this.#pulled > 0 && this.#pulled - this.#yielded > 0)) return;
    if (this.#syncIt) this.#fillSync(limit, cs);
    else this.#fillAsync();
  }

  #fillSync(limit: number, cs: number): void {
    const it = this.#syncIt!;
    let paused = false;
    try {
      while (this.#pulled - this.#yielded < limit) {
        const n = Math.min(cs, limit - (this.#pulled - this.#yielded));
        const items: unknown[] = [];
        while (items.length < n) {
          const r = resultOf(ACTION, it.next());
          if (r.done) {
            this.#sourceDone = this.#stopped = true;
            break;
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
    if (this.#sourceDone) this.#wake();
    else if (paused) {
      this.#pulling = true;
      giveTurn().then(() => {
        this.#pulling = false;
        this.#fill();
      });
    }
  }

  async #fillAsync(): Promise<void> {
    this.#pulling = true;
    const it = this.#asyncIt!;
    try {
      let cs = this.#chunkSize();
      let limit = this.#limit();
      while (!this.#stopped && !this.closed && this.#pulled - this.#yielded < limit) {
        const r = resultOf<unknown>(ACTION, await it.next());
        if (this.closed || this.#stopped) break;
        if (r.done) {
          this.#sourceDone = this.#stopped = true;
          break;
        }
        if (this.#cur.length === 0) this.#curStart = this.#pulled;
        this.#cur.push(r.value);
        this.#pulled++;
        if (
          this.#cur.length >= cs || this.#pulled - this.#yielded >= limit || this.#pool.hungry()
        ) {
          this.flushPartial();
          this.#pool.schedule();
          cs = this.#chunkSize();
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
    if (this.#sourceDone) this.flushPartial();
    else if (this.#stopped) {
      // cancelled (error policy): the partial chunk is never sent
      this.#cur = [];
    }
    this.#pool.schedule();
    if (this.#sourceDone) this.#wake();
    else if (!this.#stopped) this.#fill();
  }

  /** Whether inputs are waiting in a partial chunk (async sources). */
  get hasPartial(): boolean {
    return this.#cur.length > 0;
  }

  /** Turn the partial chunk into a sendable one (a worker is idle: do not wait to fill it). */
  flushPartial(): void {
    if (this.#cur.length === 0) return;
    this.#push(this.#curStart, this.#cur);
    this.#cur = [];
  }

  // ---------------------------------------------------------------- worker side

  /** A chunk's results arrived. */
  complete(
    chunk: Chunk,
    values: unknown[],
    errs: number[] | 0,
    busyMs: number,
    worker: number,
  ): void {
    this.outstanding--;
    if (this.closed) return;
    const n = values.length;
    if (this.#o.chunkSize === "auto" && busyMs >= 0) {
      const per = busyMs / n;
      const first = this.#taskMs < 0;
      this.#taskMs = first ? per : this.#taskMs * 0.7 + per * 0.3;
      if (first) queueMicrotask(() => this.#fill());
    }
    const policy = this.#o.errors;
    if (this.#o.ordered) {
      const cap = this.#ringF.length;
      const ringV = this.#ringV;
      const ringF = this.#ringF;
      let p = chunk.start % cap;
      if (errs === 0) {
        for (let i = 0; i < n; i++) {
          ringV[p] = values[i];
          ringF[p] = OK;
          if (++p === cap) p = 0;
        }
      } else {
        let e = 0;
        for (let i = 0; i < n; i++) {
          if (errs[e] === i) {
            e++;
            const err = new TaskError(
              chunk.start + i,
              worker,
              asError(values[i]),
              chunk.items[i],
            );
            if (policy === "throw") {
              this.#fail(err);
              return;
            }
            ringV[p] = err;
            ringF[p] = ERR;
            if (policy === "throw-after-drain") this.#beginDrain(err);
          } else {
            ringV[p] = values[i];
            ringF[p] = OK;
          }
          if (++p === cap) p = 0;
        }
      }
    } else {
      let e = 0;
      for (let i = 0; i < n; i++) {
        if (errs !== 0 && errs[e] === i) {
          e++;
          const err = new TaskError(
            chunk.start + i,
            worker,
            asError(values[i]),
            chunk.items[i],
          );
          if (policy === "throw") {
            this.#fail(err);
            return;
          }
          if (policy === "throw-after-drain") {
            this.#beginDrain(err);
            continue;
          }
          this.#qV.push(err);
          this.#qF.push(ERR);
        } else {
          this.#qV.push(values[i]);
          this.#qF.push(OK);
        }
        this.#qI.push(chunk.start + i);
      }
    }
    this.#wake();
  }

  /** Every input of a chunk failed (worker crash, timeout). */
  failChunk(chunk: Chunk, worker: number, cause: Error): void {
    const errs: number[] = [];
    const values: unknown[] = [];
    for (let i = 0; i < chunk.items.length; i++) {
      errs.push(i);
      values.push(cause);
    }
    this.complete(chunk, values, errs, -1, worker);
  }

  #beginDrain(err: TaskError): void {
    if (this.#drainError === undefined || (this.#o.ordered && err.index < this.#drainError.index)) {
      this.#drainError = err;
    }
    this.#stopPulling();
  }

  #stopPulling(): void {
    this.#stopped = true;
    // Cancel what is queued but not sent; shrink the window accordingly.
    for (let i = this.#pendingHead; i < this.#pending.length; i++) {
      this.#pulled = Math.min(this.#pulled, this.#pending[i]!.start);
    }
    this.#pending.length = 0;
    this.#pendingHead = 0;
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
    const collect = this.#o.errors === "collect";
    if (this.#o.ordered) {
      const cap = this.#ringF.length;
      const p = this.#yielded % cap;
      const f = this.#ringF[p];
      const drainErr = this.#drainError;
      if (f !== EMPTY && !(drainErr !== undefined && this.#yielded >= drainErr.index)) {
        const v = this.#ringV[p];
        this.#ringV[p] = undefined;
        this.#ringF[p] = EMPTY;
        const index = this.#yielded++;
        this.#refill();
        if (!collect) return { value: v, done: false };
        return {
          value: f === OK ? { ok: true, value: v, index } : { ok: false, error: v, index },
          done: false,
        };
      }
    } else if (this.#qHead < this.#qV.length) {
      const h = this.#qHead++;
      const v = this.#qV[h];
      const f = this.#qF[h];
      const index = this.#qI[h]!;
      if (this.#qHead > 1024 && this.#qHead * 2 > this.#qV.length) {
        this.#qV = this.#qV.slice(this.#qHead);
        this.#qF = this.#qF.slice(this.#qHead);
        this.#qI = this.#qI.slice(this.#qHead);
        this.#qHead = 0;
      } else {
        this.#qV[h] = undefined;
      }
      this.#yielded++;
      this.#refill();
      if (!collect) return { value: v, done: false };
      return {
        value: f === OK ? { ok: true, value: v, index } : { ok: false, error: v, index },
        done: false,
      };
    }
    if (this.#drainError !== undefined) {
      if (this.outstanding === 0) {
        this.#hasError = true;
        this.#error = this.#drainError;
        return THROW;
      }
      return undefined;
    }
    if (
      this.#sourceDone && this.#yielded === this.#pulled &&
      this.#pendingHead === this.#pending.length
    ) {
      this.#cleanup();
      return { value: undefined, done: true };
    }
    return undefined;
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
        return Promise.reject(new ClosedError("map over the worker pool", "the pool is closed"));
      }
      this.#start();
    }
    if (this.closed && !this.#hasError) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) {
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
    if (this.#onAbort) this.#o.signal!.removeEventListener("abort", this.#onAbort);
    this.#ringV = [];
    this.#qV = [];
    if (!this.#sourceDone) {
      this.#sourceDone = true;
      try {
        const p = this.#asyncIt ? this.#asyncIt.return?.() : this.#syncIt?.return?.();
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
