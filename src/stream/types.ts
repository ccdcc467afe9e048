/**
 * The shape every stream stage returns.
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
