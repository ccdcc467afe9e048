/**
 * The serial `map`: concurrency 1 and no signal, the common case, with the least machinery. One
 * item at a time: pull, call, deliver; no async function, no ring, and a closure-free chain of
 * pre-bound callbacks. `map_twins_test.ts` runs the same spec against it and the general
 * `ConcurrentMap` at concurrency 1.
 *
 * @module
 */

import type { MapFn, Stage } from "./types.ts";
import {
  badResult,
  closeIterator,
  closeQuietly,
  isResult,
  isThenable,
  nextOf,
  openSource,
} from "../_internal/iterate.ts";
import type { AnyIterable } from "./sized.ts";
import { afterTurn, turnDue } from "../_internal/turn.ts";

/**
 * `map` at concurrency 1 without a signal: one item at a time, the least machinery (no async
 * function). A sync result is delivered at once, or after a turn of the event loop when one is
 * due (`_internal/turn.ts`), so a long synchronous run does not starve timers and I/O.
 */
export class SerialMap<T, R> implements Stage<R> {
  readonly #syncIt: Iterator<T> | undefined;
  readonly #asyncIt: AsyncIterator<T> | undefined;
  readonly #fn: MapFn<T, R>;
  readonly #controller = new AbortController();
  readonly #action: string;
  #index = 0;
  #closed = false;

  constructor(action: string, source: AnyIterable<T>, fn: MapFn<T, R>) {
    const opened = openSource<T>(action, source);
    this.#action = action;
    this.#syncIt = opened.sync;
    this.#asyncIt = opened.async;
    this.#fn = fn;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    const syncIt = this.#syncIt;
    if (syncIt === undefined) {
      return nextOf(this.#asyncIt!).then(this.#onPulled, this.#onSourceError);
    }
    let r: IteratorResult<T>;
    try {
      r = syncIt.next();
    } catch (error) {
      this.#closed = true;
      return Promise.reject(error);
    }
    if (!isResult(r)) {
      this.#closed = true;
      return Promise.reject(badResult(this.#action, r));
    }
    if (r.done) {
      this.#closed = true;
      return Promise.resolve({ done: true, value: undefined });
    }
    if (isThenable(r.value)) {
      return Promise.resolve(r.value as PromiseLike<T>).then(this.#apply, this.#onValueError);
    }
    return this.#apply(r.value);
  }

  readonly #onPulled = (r: IteratorResult<T>): Promise<IteratorResult<R>> => {
    if (!isResult(r)) return this.#onSourceError(badResult(this.#action, r));
    if (r.done) {
      this.#closed = true;
      return Promise.resolve({ done: true, value: undefined });
    }
    return this.#apply(r.value);
  };

  readonly #apply = (value: T): Promise<IteratorResult<R>> => {
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    let v: R | PromiseLike<R>;
    try {
      v = this.#fn(value, this.#index++, this.#controller.signal);
    } catch (error) {
      return this.#fail(error);
    }
    if (isThenable(v)) return Promise.resolve(v).then(this.#wrap, this.#fail);
    // A turn is given by delaying this result: the item was pulled in call order, so a later
    // next() cannot overtake it.
    return turnDue()
      ? afterTurn({ done: false, value: v })
      : Promise.resolve({ done: false, value: v });
  };

  readonly #wrap = (value: R): IteratorResult<R> | Promise<IteratorResult<R>> =>
    turnDue() ? afterTurn({ done: false, value }) : { done: false, value };

  readonly #fail = async (error: unknown): Promise<IteratorResult<R>> => {
    this.#closed = true;
    this.#controller.abort();
    await closeQuietly((this.#syncIt ?? this.#asyncIt)!);
    throw error;
  };

  /** A sync source's promise value rejected: close the iterator (as `for await` does), rethrow. */
  readonly #onValueError = async (error: unknown): Promise<never> => {
    this.#closed = true;
    await closeQuietly(this.#syncIt!);
    throw error;
  };

  readonly #onSourceError = (error: unknown): never => {
    this.#closed = true;
    throw error;
  };

  async return(value?: unknown): Promise<IteratorResult<R>> {
    if (!this.#closed) {
      this.#closed = true;
      this.#controller.abort();
      await closeIterator((this.#syncIt ?? this.#asyncIt)!);
    }
    return { done: true, value: value as R };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
