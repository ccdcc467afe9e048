/**
 * The source side of one `pool.map`: lazy pulling from the sync or async source, forming chunks
 * of consecutive inputs, and the `maxInFlight` window (inputs pulled and not yet yielded). An
 * input that skips the workers (`passThrough`) ends a chunk; in an unordered map it is a fence.
 * The map that owns a {@linkcode MapSource} (`map_run.ts`) keeps the results and the iterator.
 *
 * @module
 */

import { openSource, resultOf } from "../_internal/iterate.ts";
import { Ring } from "../_internal/ring.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";
import { InternalError } from "../errors.ts";
import type { MapSettings } from "./map_options.ts";

const ACTION = "map over the worker pool";

/** Target duration of one chunk when `chunkSize: "auto"`. */
const AUTO_TARGET_MS = 1;
const AUTO_MAX = 1024;

/** No unordered fence is held. */
const NO_FENCE = -1;

/** What the source side needs from the pool. */
export interface SourcePool {
  /** Ask for a dispatch round soon. */
  schedule(): void;
  /** A worker could take a chunk now and nothing is waiting for one. */
  hungry(): boolean;
  /** Whether the pool is closed. */
  isClosed(): boolean;
  /** Number of workers. */
  size: number;
  /** Chunks in flight per worker. */
  depth: number;
}

/** What the source side needs from the map that owns it. */
export interface SourceOwner<C> {
  /** Set once the map ended (done, failed, returned). */
  readonly closed: boolean;
  /** A new chunk of the consecutive inputs `items`, the first at input position `start`. */
  chunkOf(start: number, items: unknown[]): C;
  /** Ordered map: a pass-through input takes its place in the result window. */
  storePassed(index: number, item: unknown): void;
  /** Fail the map (the source threw, or broke the iterator protocol). */
  fail(error: unknown): void;
  /** Give the waiting consumer a result if one is due. */
  wake(): void;
}

/** The input side of one `pool.map`: the source, the window, the chunks not yet sent. */
export class MapSource<C extends { readonly start: number }> {
  readonly #owner: SourceOwner<C>;
  readonly #pool: SourcePool;
  readonly #options: MapSettings;
  readonly #source: unknown;
  #syncIterator: Iterator<unknown> | undefined;
  #asyncIterator: AsyncIterator<unknown> | undefined;
  #pulling = false;
  #done = false;
  /** Set once nothing more is pulled (source done, stop after error, closed). */
  #stopped = false;
  #pulled = 0;
  #yielded = 0;
  /** Chunks formed but not yet sent. */
  #pending = new Ring<C>(16);
  /** Measured time per input, ms (`chunkSize: "auto"`; -1 until the first reply). */
  #taskMs = -1;
  /** Inputs pulled from an async source, not yet in a chunk. */
  #partial: unknown[] = [];
  #partialStart = 0;
  /** Unordered map: the pass-through input held until every earlier result is out. */
  #fence: unknown = undefined;
  #fenceIndex = NO_FENCE;

  /**
   * @param owner the map
   * @param pool the pool the map runs on
   * @param source the source as given to `pool.map` (opened by {@linkcode MapSource.open})
   * @param settings the map's checked options
   */
  constructor(owner: SourceOwner<C>, pool: SourcePool, source: unknown, settings: MapSettings) {
    this.#owner = owner;
    this.#pool = pool;
    this.#source = source;
    this.#options = settings;
  }

  /** Open the source (the one source rule of `_internal/iterate.ts`: strings refused). */
  open(): void {
    const opened = openSource<unknown>(ACTION, this.#source);
    if (opened.async) this.#asyncIterator = opened.async;
    else this.#syncIterator = opened.sync;
  }

  /** Chunks waiting to be sent. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Take the next chunk to send. */
  take(): C {
    if (this.#pending.length === 0) {
      throw new InternalError(ACTION, "a chunk was taken from a map with none pending");
    }
    return this.#pending.shift();
  }

  /** Put chunks at the front of the pending queue (rare: deaths and unsendable inputs). */
  unshift(chunks: readonly C[]): void {
    if (chunks.length === 0) return;
    const old = this.#pending;
    const queue = new Ring<C>(chunks.length + old.length);
    for (const c of chunks) queue.push(c);
    while (old.length > 0) queue.push(old.shift());
    this.#pending = queue;
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

  /** A chunk of `count` inputs took `busyMs` in its worker (sizes `chunkSize: "auto"`). */
  measure(busyMs: number, count: number): void {
    if (this.#options.chunkSize !== "auto" || busyMs < 0) return;
    const per = busyMs / count;
    const first = this.#taskMs < 0;
    this.#taskMs = first ? per : this.#taskMs * 0.7 + per * 0.3;
    if (first) queueMicrotask(() => this.fill());
  }

  /** One result left the window: read on when there is room for a chunk. */
  release(): void {
    this.#yielded++;
    if (!this.#stopped && !this.#pulling) {
      const free = this.#limit() - (this.#pulled - this.#yielded);
      if (free >= this.#chunkSize() || this.#pulled === this.#yielded) this.fill();
    }
  }

  /** Pull nothing more; cancel what is queued but not sent (the window shrinks accordingly). */
  stop(): void {
    this.#stopped = true;
    const pending = this.#pending;
    while (pending.length > 0) this.#pulled = Math.min(this.#pulled, pending.shift().start);
  }

  /**
   * Whether the unordered fence can be released: one is held and every input before it is out
   * (`outstanding`: chunks at the workers).
   */
  fenceDue(outstanding: number): boolean {
    return this.#fenceIndex !== NO_FENCE && outstanding === 0 && this.#pending.length === 0 &&
      this.#partial.length === 0;
  }

  /** Input position of the held fence. */
  get fenceIndex(): number {
    return this.#fenceIndex;
  }

  /** Release the fence (it counts as yielded) and return its input; reading goes on. */
  takeFence(): unknown {
    const item = this.#fence;
    this.#fence = undefined;
    this.#fenceIndex = NO_FENCE;
    this.release();
    return item;
  }

  /** Every input was read and yielded. */
  get exhausted(): boolean {
    return this.#done && this.#yielded === this.#pulled && this.#pending.length === 0;
  }

  /** Drop the fence and close the source's iterator if it was not read to the end. */
  close(): void {
    this.#fence = undefined;
    if (this.#done) return;
    this.#done = true;
    try {
      const it = this.#asyncIterator ?? this.#syncIterator;
      const p = it?.return?.();
      if (p && typeof (p as Promise<unknown>).then === "function") {
        (p as Promise<unknown>).catch(() => {});
      }
    } catch { /* a failing return() must not hide the real outcome */ }
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

  #push(start: number, items: unknown[]): void {
    this.#pending.push(this.#owner.chunkOf(start, items));
  }

  /**
   * An input that skips the workers (`passThrough`), at input position `#pulled`. Ordered: it
   * waits in the result window at its place. Unordered: it is a fence (held until every earlier
   * result is out; nothing later is read meanwhile). Returns whether pulling must pause.
   */
  #passThrough(item: unknown): boolean {
    const index = this.#pulled++;
    if (this.#options.ordered) {
      this.#owner.storePassed(index, item);
      return false;
    }
    this.#fence = item;
    this.#fenceIndex = index;
    return true;
  }

  /** Pull what the window has room for (no-op while a pull is under way or a fence is held). */
  fill(): void {
    if (
      this.#pulling || this.#stopped || this.#owner.closed || this.#fenceIndex !== NO_FENCE ||
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
    const owner = this.#owner;
    let paused = false;
    let passed = false;
    try {
      outer: while (this.#pulled - this.#yielded < limit) {
        const n = Math.min(chunkSize, limit - (this.#pulled - this.#yielded));
        let items: unknown[] = [];
        for (let taken = 0; taken < n; taken++) {
          const r = resultOf(ACTION, it.next());
          if (r.done) {
            this.#done = this.#stopped = true;
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
        if (this.#done) break;
        // A large window filled from a fast sync source: let timers and messages in, then go on
        // (`#pulling` keeps any other fill out meanwhile).
        if (turnDue()) {
          paused = true;
          break;
        }
      }
    } catch (e) {
      owner.fail(e);
      return;
    }
    this.#pool.schedule();
    if (this.#done || passed) owner.wake();
    if (paused && !this.#done && !owner.closed) {
      this.#pulling = true;
      giveTurn().then(() => {
        this.#pulling = false;
        this.fill();
      });
    }
  }

  async #fillAsync(): Promise<void> {
    this.#pulling = true;
    const it = this.#asyncIterator!;
    const pass = this.#options.passThrough;
    const owner = this.#owner;
    let passed = false;
    try {
      let chunkSize = this.#chunkSize();
      let limit = this.#limit();
      while (!this.#stopped && !owner.closed && this.#pulled - this.#yielded < limit) {
        const r = resultOf<unknown>(ACTION, await it.next());
        if (owner.closed || this.#stopped) break;
        if (r.done) {
          this.#done = this.#stopped = true;
          break;
        }
        if (pass !== undefined && pass(r.value)) {
          this.flushPartial();
          passed = true;
          if (this.#passThrough(r.value)) break;
          owner.wake(); // it may be the result due: an async source may take long to go on
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
      owner.fail(e);
      return;
    }
    this.#pulling = false;
    if (owner.closed) return;
    if (this.#done || this.#fenceIndex !== NO_FENCE) this.flushPartial();
    else if (this.#stopped) {
      // cancelled (error policy): the partial chunk is never sent
      this.#partial = [];
    }
    this.#pool.schedule();
    if (this.#done || passed) owner.wake();
    if (!this.#done && !this.#stopped) this.fill();
  }
}
