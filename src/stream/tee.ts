/**
 * `tee`: split one source into `n` consumers with a bounded shared buffer.
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { assertInteger } from "../errors.ts";
import { AbortLink, checkSignal } from "../_internal/abort.ts";
import {
  badResult,
  closeIterator,
  closeQuietly,
  isResult,
  iteratorOf,
  nextOf,
  type Waiter,
  waiter,
} from "../_internal/iterate.ts";
import { checkOptions } from "../_internal/options.ts";
import { Ring } from "../_internal/ring.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { afterTurn, turnDue } from "../_internal/turn.ts";

/** Options of {@linkcode tee}. */
export interface TeeOptions {
  /** How many items the fastest consumer may be ahead of the slowest active one (>= 1). */
  capacity: number;
  /**
   * Aborting it ends every branch at once: each gets `AbortedError` (once, on its waiting or next
   * `next()`), the buffer is dropped and the source returned.
   */
  signal?: AbortSignal;
}

const ACTION = "tee a source";

/** State shared by the branches. */
class TeeHub<T> {
  readonly it: AsyncIterator<T>;
  readonly capacity: number;
  /** Items from position `base` to `base + buf.length - 1`. */
  readonly buf = new Ring<T>(16);
  base = 0;
  /** Each branch's next position; -1 once detached. */
  readonly pos: number[];
  active: number;
  pulling = false;
  /** The position where the source ended or failed, and how. */
  endAt = -1;
  failed = false;
  error: unknown = undefined;
  returned = false;
  /** Branches waiting for an item or for room. */
  readonly waiting = new Set<() => void>();
  /** Set when the signal was aborted: every branch reports it once, then ends. */
  abort: unknown = undefined;
  readonly link: AbortLink;

  constructor(source: AnyIterable<T>, n: number, capacity: number, signal?: AbortSignal) {
    this.it = iteratorOf(ACTION, source);
    this.capacity = capacity;
    this.pos = new Array(n).fill(0);
    this.active = n;
    this.link = new AbortLink(ACTION, signal, () => this.aborted());
  }

  /** The signal fired: drop the buffer, return the source (without waiting), wake every branch. */
  aborted(): void {
    if (this.abort !== undefined) return;
    this.abort = this.link.error();
    const open = this.endAt < 0 && !this.returned;
    this.returned = true;
    this.buf.clear();
    this.link.detach();
    if (open) void closeQuietly(this.it);
    this.wakeAll();
  }

  get pulled(): number {
    return this.base + this.buf.length;
  }

  /** The slowest active branch's position. */
  minPos(): number {
    let min = Infinity;
    for (const p of this.pos) if (p >= 0 && p < min) min = p;
    return min;
  }

  /** Drop items every active branch has passed. */
  trim(): void {
    const min = this.minPos();
    const upTo = min === Infinity ? this.pulled : min;
    while (this.base < upTo && this.buf.length > 0) {
      this.buf.shift();
      this.base++;
    }
  }

  wakeAll(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const wake of waiting) wake();
  }

  /** Pull one item if nobody is pulling and the slowest branch leaves room. */
  pull(): void {
    if (this.pulling || this.endAt >= 0 || this.returned) return;
    if (this.pulled - this.minPos() >= this.capacity) return;
    this.pulling = true;
    nextOf(this.it).then((r) => {
      this.pulling = false;
      if (this.returned) return;
      if (!isResult(r)) {
        this.endAt = this.pulled;
        this.failed = true;
        this.error = badResult(ACTION, r);
        this.link.detach();
      } else if (r.done) this.endAt = this.pulled;
      else this.buf.push(r.value);
      this.wakeAll();
    }, (error) => {
      this.pulling = false;
      if (this.returned) return;
      this.endAt = this.pulled;
      this.failed = true;
      this.error = error;
      this.link.detach();
      this.wakeAll();
    });
  }

  async detach(k: number): Promise<void> {
    if (this.pos[k]! < 0) return;
    this.pos[k] = -1;
    this.active--;
    this.trim();
    this.wakeAll();
    if (this.active === 0) this.link.detach();
    if (this.active === 0 && this.endAt < 0 && !this.returned) {
      this.returned = true;
      this.buf.clear();
      await closeIterator(this.it);
    }
  }
}

class TeeBranch<T> implements Stage<T> {
  readonly #hub: TeeHub<T>;
  readonly #k: number;
  #closed = false;
  readonly #waiters = new Ring<Waiter<T>>(2);
  #wake: (() => void) | null = null;

  constructor(hub: TeeHub<T>, k: number) {
    this.#hub = hub;
    this.#k = k;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    const [p, w] = waiter<T>();
    this.#waiters.push(w);
    if (this.#waiters.length === 1) this.#serve();
    return p;
  }

  /** Serve waiting next() calls in order, from the buffer or by pulling. */
  #serve(): void {
    const hub = this.#hub;
    const k = this.#k;
    while (this.#waiters.length > 0) {
      if (this.#closed) {
        this.#waiters.shift().resolve({ done: true, value: undefined });
        continue;
      }
      if (hub.abort !== undefined) {
        this.#closed = true;
        void hub.detach(k);
        this.#waiters.shift().reject(hub.abort);
        continue;
      }
      const p = hub.pos[k]!;
      if (p < hub.pulled) {
        const value = this.#itemAt(p);
        hub.pos[k] = p + 1;
        if (p === hub.base) {
          hub.trim();
          hub.wakeAll(); // room for a faster branch that waits for it
        }
        // The item is taken now; when a turn is due it is handed over after the turn.
        const w = this.#waiters.shift();
        if (turnDue()) afterTurn({ done: false, value }).then(w.resolve);
        else w.resolve({ done: false, value });
        continue;
      }
      if (hub.endAt >= 0 && p >= hub.endAt) {
        this.#closed = true;
        const w = this.#waiters.shift();
        const failed = hub.failed;
        const error = hub.error;
        void hub.detach(k);
        if (failed) w.reject(error);
        else w.resolve({ done: true, value: undefined });
        continue;
      }
      // Need the next item: pull if room, and wait for news (item, end, or room).
      if (this.#wake === null) {
        this.#wake = () => {
          this.#wake = null;
          this.#serve();
        };
        hub.waiting.add(this.#wake);
      }
      hub.pull();
      return;
    }
  }

  #itemAt(p: number): T {
    const hub = this.#hub;
    const offset = p - hub.base;
    if (offset === 0) return hub.buf.peek();
    return hub.buf.at(offset);
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    if (!this.#closed && this.#hub.abort !== undefined) {
      this.#closed = true; // aborted: the source was already returned
      void this.#hub.detach(this.#k);
    }
    if (!this.#closed) {
      this.#closed = true;
      if (this.#wake !== null) {
        this.#hub.waiting.delete(this.#wake);
        this.#wake = null;
      }
      while (this.#waiters.length > 0) {
        this.#waiters.shift().resolve({ done: true, value: undefined });
      }
      await this.#hub.detach(this.#k);
    }
    return { done: true, value: value as T };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/**
 * Split `source` into `n` async iterables that each see every item, in order.
 *
 * The source is pulled once per item, when a branch needs it and the slowest active branch is
 * fewer than `capacity` items behind: the slowest consumer applies backpressure and memory is
 * bounded by `capacity` items. A branch that returns early (`break`) detaches and holds nobody
 * back; when every branch has returned, the source's `return()` is called. A source error
 * reaches each branch at the position it happened. Sized sources keep `length` on each branch.
 *
 * @param source any sync or async iterable
 * @param n number of branches (integer >= 1)
 * @param options `capacity` (>= 1), optional `signal`
 * @returns an array of `n` async iterable iterators
 * @throws {InvalidArgumentError} for a bad `n` or `capacity`
 *
 * @example
 * ```ts
 * import { tee } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const branches = tee([1, 2, 3], 2, { capacity: 4 });
 * const sums = await Promise.all(branches.map(async (branch) => {
 *   let s = 0;
 *   for await (const x of branch) s += x;
 *   return s;
 * }));
 * assert.equal(sums[0], 6);
 * assert.equal(sums[1], 6);
 * ```
 */
export function tee<T>(
  source: AnyIterable<T>,
  n: number,
  options: TeeOptions,
): (Stage<T>)[] {
  assertInteger(ACTION, "n", n, 1);
  const o = checkOptions<TeeOptions>(ACTION, options, ["capacity", "signal"]);
  const capacity = assertInteger(ACTION, "capacity", o.capacity, 1);
  const signal = checkSignal(ACTION, o.signal);
  const hub = new TeeHub(source, n, capacity, signal);
  if (signal?.aborted) hub.aborted();
  const length = lengthOf(source);
  return Array.from({ length: n }, (_, k) => withLength(new TeeBranch(hub, k), length));
}
