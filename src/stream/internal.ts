/**
 * The stream stages' private protocol (not exported from mod.ts): the synchronous poll that lets
 * `batch` drain a `prefetch` buffer without a promise per item. The mechanisms every area shares
 * (iteration, abort, the ring) live in `src/_internal/`.
 *
 * @module
 */

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
