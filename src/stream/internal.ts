/**
 * Internal helpers shared by the stream stages (not exported from mod.ts).
 *
 * @module
 */

import { AbortedError, InvalidArgumentError } from "../errors.ts";
import type { AnyIterable } from "./sized.ts";

/** Returned by a `[kPoll]()` call when no item is buffered. */
export const EMPTY: unique symbol = Symbol("spool.stream.empty");

/**
 * A stage that buffers items implements `[kPoll]()`: it hands over one buffered item
 * synchronously, or {@linkcode EMPTY} when none is ready (then the caller awaits `next()`).
 * `batch` uses it to drain a `prefetch` buffer without one promise per item.
 */
export const kPoll: unique symbol = Symbol("spool.stream.poll");

/**
 * `[kWaitFor](n)` resolves once at least `n` items (capped at the buffer size) are buffered, or
 * the stage can buffer no more (ended, failed, stopped). A consumer that needs `n` items anyway
 * (a count batch) waits once instead of once per item.
 */
export const kWaitFor: unique symbol = Symbol("spool.stream.waitFor");

/** Something with a synchronous poll (see {@linkcode kPoll}). */
export interface Pollable<T> {
  /** Take one buffered item, or {@linkcode EMPTY}. */
  [kPoll](): T | typeof EMPTY;
  /** Wait until `n` items are buffered or no more can come (see {@linkcode kWaitFor}). */
  [kWaitFor]?(n: number): Promise<void>;
}

/** True when `value` has a callable `then`. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/** A resolved `{ done: true }` result (a fresh object each time: callers may keep it). */
export function doneResult<T>(): Promise<IteratorResult<T>> {
  return Promise.resolve({ done: true, value: undefined });
}

/** Adapts a sync iterator to the async iterator protocol (values that are promises are awaited). */
class SyncAdaptor<T> implements AsyncIterator<T> {
  readonly #it: Iterator<T>;
  constructor(it: Iterator<T>) {
    this.#it = it;
  }
  next(): Promise<IteratorResult<T>> {
    let r: IteratorResult<T>;
    try {
      r = this.#it.next();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!r.done && isThenable(r.value)) {
      return Promise.resolve(r.value).then(
        (value) => ({ done: false, value: value as T }),
        (error) => {
          try {
            this.#it.return?.();
          } catch { /* the rejection is what the consumer sees */ }
          throw error;
        },
      );
    }
    return Promise.resolve(r);
  }
  return(value?: unknown): Promise<IteratorResult<T>> {
    try {
      const r = this.#it.return?.(value as T);
      return Promise.resolve(r ?? { done: true, value: value as T });
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** True when `source` is a sync or async iterable (strings excluded when `noStrings`). */
export function isAnyIterable(source: unknown): source is AnyIterable<unknown> {
  return source !== null && source !== undefined &&
    (typeof source === "object" || typeof source === "function") &&
    (Symbol.asyncIterator in (source as object) || Symbol.iterator in (source as object));
}

/**
 * The async iterator of a sync or async iterable, or an {@linkcode InvalidArgumentError}
 * naming `action` when `source` is neither (strings are refused: iterating characters is
 * almost always a mistake in a data pipeline).
 */
export function iteratorOf<T>(action: string, source: AnyIterable<T>): AsyncIterator<T> {
  if (!isAnyIterable(source)) {
    throw new InvalidArgumentError(
      action,
      "the source must be an iterable or async iterable",
      source,
    );
  }
  const s = source as unknown as Record<symbol, unknown>;
  if (typeof s[Symbol.asyncIterator] === "function") {
    return (source as AsyncIterable<T>)[Symbol.asyncIterator]();
  }
  return new SyncAdaptor((source as Iterable<T>)[Symbol.iterator]());
}

/** The sync iterator of `source` when it is a sync (and not async) iterable, else undefined. */
export function syncIteratorOf<T>(source: AnyIterable<T>): Iterator<T> | undefined {
  const s = source as unknown as Record<symbol, unknown>;
  if (typeof s[Symbol.asyncIterator] === "function") return undefined;
  if (typeof s[Symbol.iterator] === "function") return (source as Iterable<T>)[Symbol.iterator]();
  return undefined;
}

/** Call `it.return()` if it exists and await it. Errors propagate. */
export async function closeIterator(it: AsyncIterator<unknown> | Iterator<unknown>): Promise<void> {
  if (typeof it.return === "function") await it.return();
}

/** Call `it.return()` if it exists, ignoring its errors (used while another error propagates). */
export async function closeQuietly(it: AsyncIterator<unknown> | Iterator<unknown>): Promise<void> {
  try {
    if (typeof it.return === "function") await it.return();
  } catch { /* an earlier error is the one that matters */ }
}

/** The {@linkcode AbortedError} for an aborted signal. */
export function abortError(action: string, signal: AbortSignal): AbortedError {
  return new AbortedError(action, "the signal was aborted", signal.reason, {
    cause: signal.reason,
  });
}

/** Throw {@linkcode InvalidArgumentError} unless `signal` is undefined or an AbortSignal. */
export function checkSignal(action: string, signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(action, "signal must be an AbortSignal", signal);
  }
  return signal;
}

/** Throw {@linkcode InvalidArgumentError} unless `options` is undefined or an object. */
export function checkOptions<O extends object>(action: string, options: unknown): Partial<O> {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError(action, "options must be an object", options);
  }
  return options as Partial<O>;
}

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

/** A waiting consumer's settle functions. */
export interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: unknown): void;
}

/** Make a pending promise and its waiter. */
export function waiter<T>(): [Promise<IteratorResult<T>>, Waiter<T>] {
  let w!: Waiter<T>;
  const p = new Promise<IteratorResult<T>>((resolve, reject) => {
    w = { resolve, reject };
  });
  return [p, w];
}
