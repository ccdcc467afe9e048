/**
 * How `filter` is built on `map`: the predicate is wrapped into a map function that returns the
 * item or {@linkcode SKIP}, and {@linkcode Filtered} drops the `SKIP` markers from the map stage.
 *
 * @module
 */

import type { MapFn, Stage } from "./types.ts";
import { isThenable } from "../_internal/iterate.ts";

/** What the wrapped predicate returns for an item it drops. */
export const SKIP: unique symbol = Symbol("spool.filter.skip");

/** The map function of `filter`: the item when `predicate` holds for it, else {@linkcode SKIP}. */
export function keepOrSkip<T>(predicate: MapFn<T, unknown>): MapFn<T, T | typeof SKIP> {
  return (value, index, signal) => {
    const keep = predicate(value, index, signal);
    if (isThenable(keep)) return Promise.resolve(keep).then((k) => k ? value : SKIP);
    return keep ? value : SKIP;
  };
}

/** Drops {@linkcode SKIP} markers from a map stage. */
export class Filtered<T> implements Stage<T> {
  readonly #inner: Stage<T | typeof SKIP>;

  /** @param inner the map stage of the wrapped predicate */
  constructor(inner: Stage<T | typeof SKIP>) {
    this.#inner = inner;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      const r = await this.#inner.next();
      if (r.done || r.value !== SKIP) return r as IteratorResult<T>;
    }
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    await this.#inner.return!();
    return { done: true, value: value as T };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
