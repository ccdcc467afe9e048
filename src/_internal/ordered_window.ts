/**
 * The ordered window, written once: a bounded set of slots indexed by sequence number, filled
 * out of order and released in order. Results of concurrent work (a pool map, a concurrent
 * ordered `map`, a node with `spawn > 1`) are stored at their input's sequence number as they
 * complete, and taken from the front as soon as the one due is there.
 *
 * No per-item allocation or closure: a power-of-two ring of values and a parallel byte array of
 * tags (0 = empty; any other value is the caller's, e.g. "ok" / "failed"). A caller that settles
 * work through callbacks built once per slot (no closure per item) maps a slot back to the
 * sequence number it holds with {@linkcode OrderedWindow.seqAt}.
 *
 * @module
 */

import { InternalError } from "../errors.ts";

/** Slots by sequence number: store out of order, release in order, at most `capacity` ahead. */
export class OrderedWindow<T> {
  #values: (T | undefined)[];
  #tags: Uint8Array;
  #mask: number;
  readonly #capacity: number;
  #next = 0;

  /**
   * @param capacity how far ahead of the next due sequence number a value may be stored
   * @param first the first sequence number due (default 0)
   */
  constructor(capacity: number, first = 0) {
    let n = 4;
    while (n < capacity) n *= 2;
    this.#values = new Array(n);
    this.#tags = new Uint8Array(n);
    this.#mask = n - 1;
    this.#capacity = capacity;
    this.#next = first;
  }

  /** The sequence number released next. */
  get next(): number {
    return this.#next;
  }

  /** The window's bound. */
  get capacity(): number {
    return this.#capacity;
  }

  /** How many slots the ring has: `capacity` rounded up to a power of two (at least 4). */
  get slots(): number {
    return this.#mask + 1;
  }

  /** The slot that holds sequence number `seq` (`0 <= slot < slots`). */
  slotOf(seq: number): number {
    return seq & this.#mask;
  }

  /**
   * The sequence number of the window (`next <= seq < next + slots`) that `slot` holds: the
   * inverse of {@linkcode OrderedWindow.slotOf} for the sequence numbers in the window.
   */
  seqAt(slot: number): number {
    const next = this.#next;
    return next + ((slot - next) & this.#mask);
  }

  /**
   * Store `value` at sequence number `seq` with `tag` (1..255). `seq` must be in the window
   * (`next <= seq < next + capacity`) and its slot empty: anything else is a bug of the caller
   * ({@linkcode InternalError}).
   */
  put(seq: number, value: T, tag: number): void {
    const p = seq & this.#mask;
    if (seq < this.#next || seq >= this.#next + this.#capacity || this.#tags[p] !== 0) {
      throw new InternalError(
        "store an ordered result",
        `sequence number ${seq} is outside the window [${this.#next}, ${
          this.#next + this.#capacity
        }) or already stored`,
      );
    }
    this.#values[p] = value;
    this.#tags[p] = tag;
  }

  /** The tag of the value due (0 when it has not arrived). */
  headTag(): number {
    return this.#tags[this.#next & this.#mask]!;
  }

  /** The tag stored at `seq` (0 when empty; `seq` in the window). */
  tagAt(seq: number): number {
    return this.#tags[seq & this.#mask]!;
  }

  /** Release the value due (the caller checked `headTag() !== 0`) and advance. */
  take(): T {
    const p = this.#next & this.#mask;
    const v = this.#values[p] as T;
    this.#values[p] = undefined;
    this.#tags[p] = 0;
    this.#next++;
    return v;
  }

  /** Drop every stored value (the window keeps its position). */
  clear(): void {
    this.#values.fill(undefined);
    this.#tags.fill(0);
  }
}
