/**
 * `prefetch`: pull a source ahead of its consumer into a bounded buffer.
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { assertInteger } from "../errors.ts";
import { EMPTY, kPoll, kWaitFor, type Pollable } from "./internal.ts";
import { abortError, checkSignal } from "../_internal/abort.ts";
import { checkOptions } from "../_internal/options.ts";
import { closeIterator, iteratorOf, resultOf, type Waiter, waiter } from "../_internal/iterate.ts";
import { Ring } from "../_internal/ring.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

/** Options of {@linkcode prefetch}. */
export interface PrefetchOptions {
  /** How many items may wait in the buffer, ahead of the consumer (integer >= 1). */
  size: number;
  /** Aborting it stops the producer, returns the source and rejects the consumer with `AbortedError`. */
  signal?: AbortSignal;
}

const ACTION = "prefetch a source";

// States. RUNNING: the producer may still add items. ENDED: the source is exhausted (buffered
// items still to deliver). FAILED: the source threw (buffered items, then the error).
// CLOSED: everything delivered or the consumer returned; next() resolves done at once.
const RUNNING = 0;
const ENDED = 1;
const FAILED = 2;
const CLOSED = 3;

/** The iterator returned by {@linkcode prefetch}. */
class Prefetcher<T> implements Stage<T>, Pollable<T> {
  readonly #it: AsyncIterator<T>;
  readonly #size: number;
  readonly #ring: Ring<T>;
  readonly #waiters = new Ring<Waiter<T>>(2);
  readonly #signal: AbortSignal | undefined;
  #state = RUNNING;
  #error: unknown = undefined;
  #started = false;
  #stopped = false; // the consumer returned or the signal fired: the producer must quit
  #pulling = false; // a source.next() is pending
  #space: (() => void) | null = null;
  #onAbort: (() => void) | null = null;
  #want = 0;
  #wantResolve: (() => void) | null = null;

  constructor(source: AnyIterable<T>, size: number, signal: AbortSignal | undefined) {
    this.#it = iteratorOf(ACTION, source);
    this.#size = size;
    this.#ring = new Ring(Math.min(size, 1024));
    this.#signal = signal;
    if (signal) {
      this.#onAbort = () => this.#abort();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    const ring = this.#ring;
    if (ring.length > 0) {
      const value = ring.shift();
      this.#wake();
      return Promise.resolve({ done: false, value });
    }
    switch (this.#state) {
      case RUNNING: {
        if (this.#signal?.aborted) {
          this.#abort();
          return this.next();
        }
        if (!this.#started) this.#start();
        const [p, w] = waiter<T>();
        this.#waiters.push(w);
        return p;
      }
      case FAILED: {
        this.#state = CLOSED;
        const error = this.#error;
        this.#error = undefined;
        return Promise.reject(error);
      }
      default:
        this.#state = CLOSED;
        return Promise.resolve({ done: true, value: undefined });
    }
  }

  [kPoll](): T | typeof EMPTY {
    if (this.#ring.length === 0) return EMPTY;
    const value = this.#ring.shift();
    this.#wake();
    return value;
  }

  [kWaitFor](n: number): Promise<void> {
    const want = Math.min(n, this.#size);
    if (this.#ring.length >= want || this.#state !== RUNNING || this.#stopped) {
      return Promise.resolve();
    }
    if (!this.#started) this.#start();
    return new Promise((resolve) => {
      this.#want = want;
      this.#wantResolve = resolve;
    });
  }

  #fireWant(): void {
    const resolve = this.#wantResolve;
    if (resolve !== null) {
      this.#wantResolve = null;
      resolve();
    }
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    const wasRunning = this.#state === RUNNING && !this.#stopped;
    this.#stop();
    this.#settleWaiters(undefined);
    if (wasRunning) await closeIterator(this.#it);
    return { done: true, value: value as T };
  }

  /** Same as `return()`: stops the producer and returns the source. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  #start(): void {
    this.#started = true;
    void this.#run();
  }

  async #run(): Promise<void> {
    const it = this.#it;
    const ring = this.#ring;
    const size = this.#size;
    try {
      for (;;) {
        if (ring.length >= size) {
          await new Promise<void>((resolve) => this.#space = resolve);
          if (this.#stopped) return;
          continue;
        }
        if (turnDue()) {
          await giveTurn();
          if (this.#stopped) return;
        }
        this.#pulling = true;
        const r = resultOf<T>(ACTION, await it.next());
        this.#pulling = false;
        if (this.#stopped) return;
        if (r.done) {
          this.#end(ENDED, undefined);
          return;
        }
        if (this.#waiters.length > 0) {
          this.#waiters.shift().resolve({ done: false, value: r.value });
        } else {
          ring.push(r.value);
          if (this.#wantResolve !== null && ring.length >= this.#want) this.#fireWant();
        }
      }
    } catch (error) {
      this.#pulling = false;
      if (!this.#stopped) this.#end(FAILED, error);
    }
  }

  /** The source ended or failed: deliver to waiting consumers (the buffer is empty then). */
  #end(state: typeof ENDED | typeof FAILED, error: unknown): void {
    this.#state = state;
    this.#error = error;
    this.#detach();
    this.#fireWant();
    if (this.#waiters.length > 0) {
      // Waiters only exist while the buffer is empty: the first gets the outcome.
      const first = this.#waiters.shift();
      this.#state = CLOSED;
      this.#error = undefined;
      if (state === FAILED) first.reject(error);
      else first.resolve({ done: true, value: undefined });
      this.#settleWaiters(undefined);
    }
  }

  #wake(): void {
    const space = this.#space;
    if (space !== null) {
      this.#space = null;
      space();
    }
  }

  #stop(): void {
    this.#stopped = true;
    this.#state = CLOSED;
    this.#error = undefined;
    this.#ring.clear();
    this.#detach();
    this.#wake();
    this.#fireWant();
  }

  #settleWaiters(error: unknown): void {
    while (this.#waiters.length > 0) {
      const w = this.#waiters.shift();
      if (error !== undefined) w.reject(error);
      else w.resolve({ done: true, value: undefined });
    }
  }

  #abort(): void {
    if (this.#state === CLOSED && this.#stopped) return;
    const wasRunning = this.#state === RUNNING;
    const error = abortError(ACTION, this.#signal!);
    this.#stop();
    if (this.#waiters.length > 0) {
      this.#waiters.shift().reject(error);
      this.#settleWaiters(undefined);
    } else {
      // Sticky: the next next() reports the abort once, then done.
      this.#state = FAILED;
      this.#error = error;
    }
    if (wasRunning) void closeIterator(this.#it).catch(() => {});
  }

  #detach(): void {
    if (this.#onAbort !== null) {
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#onAbort = null;
    }
  }

  /** True while a `next()` on the source is pending (for tests and diagnostics). */
  get pulling(): boolean {
    return this.#pulling;
  }
}

/**
 * Pull `source` ahead of its consumer into a buffer of at most `size` items.
 *
 * The source is pulled concurrently with the consumer's work (starting at the first `next()`),
 * one `next()` at a time, and never more than `size` items beyond what the consumer has taken.
 * An error thrown by the source reaches the consumer at the position it happened: the items
 * pulled before it are delivered first. When the consumer stops early (`break`, `return()`),
 * the producer stops and the source's `return()` is called; a finished, failed or returned
 * prefetch stays so (`next()` resolves `done` at once). A source with a `length` keeps it.
 *
 * @param source any sync or async iterable
 * @param options `size` (>= 1) and an optional `signal`
 * @returns an async iterable iterator (also `AsyncDisposable`)
 * @throws {InvalidArgumentError} when `size` is not an integer >= 1 or `source` is not iterable
 *
 * @example
 * ```ts
 * import { prefetch } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * async function* readings() {
 *   for (let i = 0; i < 5; i++) yield i;
 * }
 * const seen: number[] = [];
 * for await (const x of prefetch(readings(), { size: 2 })) seen.push(x);
 * assert.equal(seen.join(), "0,1,2,3,4");
 * ```
 */
export function prefetch<T>(
  source: AnyIterable<T>,
  options: PrefetchOptions,
): Stage<T> {
  const o = checkOptions<PrefetchOptions>(ACTION, options, ["size", "signal"]);
  const size = assertInteger(ACTION, "size", o.size, 1);
  const signal = checkSignal(ACTION, o.signal);
  return withLength(new Prefetcher(source, size, signal), lengthOf(source));
}
