/**
 * The shapes the stream stages share: what every stage returns, and the function `map` and
 * `filter` apply (defined here so the implementations of `map` need not import `map.ts`).
 *
 * @module
 */

/**
 * An async iterable iterator whose `return()` always exists (it stops the stage and returns its
 * source) and that can be disposed with `await using`.
 */
export interface Stage<T> extends AsyncIterableIterator<T>, AsyncDisposable {
  /** The number of items, when known (1:1 stages over a sized source keep it). */
  readonly length?: number;
  /** Stop early: release the stage's resources and return its source(s). Idempotent. */
  return(value?: unknown): Promise<IteratorResult<T>>;
}

/**
 * The function of `map`: gets the item, its 0-based position in the source and a signal that
 * is aborted when the stage stops early (consumer `break`, an error, an abort).
 */
export type MapFn<T, R> = (value: T, index: number, signal: AbortSignal) => R | PromiseLike<R>;
