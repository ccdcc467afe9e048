/**
 * The bounded-or-growing FIFO written once: a power-of-two ring with O(1) push/shift (no
 * `Array.prototype.shift`, no head-index compaction by hand).
 *
 * @module
 */

/**
 * A growable FIFO ring buffer: O(1) push/shift without `Array.prototype.shift`.
 */
export class Ring<T> {
  #buf: (T | undefined)[];
  #mask: number;
  #head = 0;
  #len = 0;

  constructor(capacity = 16) {
    let n = 4;
    while (n < capacity) n *= 2;
    this.#buf = new Array(n);
    this.#mask = n - 1;
  }

  /** Number of items held. */
  get length(): number {
    return this.#len;
  }

  /** Append an item. */
  push(value: T): void {
    if (this.#len === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#len) & this.#mask] = value;
    this.#len++;
  }

  /** Remove and return the oldest item (caller checks `length` first). */
  shift(): T {
    const i = this.#head;
    const v = this.#buf[i] as T;
    this.#buf[i] = undefined;
    this.#head = (i + 1) & this.#mask;
    this.#len--;
    return v;
  }

  /** The oldest item without removing it (caller checks `length` first). */
  peek(): T {
    return this.#buf[this.#head] as T;
  }

  /** The item `offset` places after the oldest (caller checks `offset < length`). */
  at(offset: number): T {
    return this.#buf[(this.#head + offset) & this.#mask] as T;
  }

  /** Drop every item. */
  clear(): void {
    this.#buf.fill(undefined);
    this.#head = 0;
    this.#len = 0;
  }

  #grow(): void {
    const old = this.#buf;
    const n = old.length * 2;
    const buf = new Array<T | undefined>(n);
    for (let k = 0; k < this.#len; k++) buf[k] = old[(this.#head + k) & this.#mask];
    this.#buf = buf;
    this.#mask = n - 1;
    this.#head = 0;
  }
}
