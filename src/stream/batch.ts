/**
 * `batch`: group items into arrays by count, by bytes and/or by time.
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { InvalidArgumentError } from "../errors.ts";
import { byteSizeOf } from "../_internal/bytes.ts";
import { optionalFunction } from "../_internal/options.ts";
import { EMPTY, kPoll, kWaitFor, type Pollable } from "./internal.ts";
import { AbortLink, checkSignal } from "../_internal/abort.ts";
import { checkOptions } from "../_internal/options.ts";
import { closeIterator, closeQuietly, iteratorOf, nextOf, resultOf } from "../_internal/iterate.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

/** Options of {@linkcode batch}. At least one of `size`, `maxBytes`, `maxWaitMs` is required. */
export interface BatchOptions<T> {
  /** Emit a batch when it holds this many items (integer >= 1). */
  size?: number;
  /**
   * Emit a batch as soon as its items add up to at least this many bytes (finite number > 0; leave
   * it out for no byte limit). The item that reaches the limit is part of the batch, so one large
   * item makes a batch of its own.
   */
  maxBytes?: number;
  /**
   * Emit a partial batch when this many milliseconds (> 0) have passed since its first item,
   * even while the source is idle.
   */
  maxWaitMs?: number;
  /** How to count an item's bytes; default `byteSizeOf` (exact for typed arrays). */
  byteSize?: (item: T) => number;
  /**
   * Aborting it ends the batching at once: the waiting consumer (or the next `next()`) gets
   * `AbortedError`, the partial batch is dropped, the timer cleared and the source returned.
   */
  signal?: AbortSignal;
}

const KNOWN: (keyof BatchOptions<unknown>)[] = [
  "size",
  "maxBytes",
  "maxWaitMs",
  "byteSize",
  "signal",
];

const ACTION = "batch a source";
const TIMEOUT: unique symbol = Symbol("timeout");

const RUNNING = 0;
const FAILED = 1; // a batch was emitted before the source's error: the error comes next
const CLOSED = 2;

class Batcher<T> implements Stage<T[]> {
  readonly #it: AsyncIterator<T>;
  readonly #poll: (() => T | typeof EMPTY) | undefined;
  readonly #waitFor: ((n: number) => Promise<void>) | undefined;
  readonly #size: number;
  readonly #maxBytes: number;
  readonly #maxWaitMs: number;
  readonly #byteSize: ((item: T) => number) | undefined;
  #state = RUNNING;
  #error: unknown = undefined;
  #busy = false;
  /** A source.next() still pending when the timer emitted the previous batch. */
  #pending: Promise<IteratorResult<T>> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  readonly #link: AbortLink;
  /** The error on its way is the stage's own (byteSize threw), not the source's. */
  #ownError = false;

  constructor(
    source: AnyIterable<T>,
    size: number,
    maxBytes: number,
    maxWaitMs: number,
    byteSize: ((item: T) => number) | undefined,
    signal: AbortSignal | undefined,
  ) {
    this.#it = iteratorOf(ACTION, source);
    this.#link = new AbortLink(ACTION, signal, () => this.#clearTimer());
    const poll = (source as Partial<Pollable<T>>)[kPoll];
    this.#poll = typeof poll === "function" ? poll.bind(source) : undefined;
    const waitFor = (source as Partial<Pollable<T>>)[kWaitFor];
    // Waiting for a count only makes sense when the batch is closed by count alone.
    this.#waitFor = typeof waitFor === "function" && this.#poll !== undefined &&
        maxBytes === Infinity && size !== Infinity
      ? waitFor.bind(source)
      : undefined;
    this.#size = size;
    this.#maxBytes = maxBytes;
    this.#maxWaitMs = maxWaitMs;
    this.#byteSize = byteSize;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T[]>> {
    if (this.#state !== RUNNING) {
      if (this.#state === FAILED) {
        this.#state = CLOSED;
        const error = this.#error;
        this.#error = undefined;
        throw error;
      }
      return { done: true, value: undefined };
    }
    if (this.#link.aborted) throw this.#aborted();
    if (this.#busy) {
      throw new InvalidArgumentError(ACTION, "next() called again before the previous one settled");
    }
    this.#busy = true;
    const out: T[] = [];
    try {
      const done = this.#maxWaitMs > 0 ? await this.#fillTimed(out) : await this.#fill(out);
      if (done) {
        this.#state = CLOSED;
        this.#link.detach();
      }
    } catch (error) {
      this.#pending = null;
      this.#clearTimer();
      if (this.#link.aborted && this.#state === RUNNING) throw this.#aborted(); // drop `out`
      this.#link.detach();
      if (this.#ownError) await closeQuietly(this.#it); // the source is fine: return it
      if (out.length === 0) {
        this.#state = CLOSED;
        throw error;
      }
      this.#state = FAILED; // deliver the items pulled before the error first
      this.#error = error;
    } finally {
      this.#busy = false;
    }
    if (out.length === 0) return { done: true, value: undefined };
    return { done: false, value: out };
  }

  /** Fill `out` without a timer. Returns true when the source is exhausted. */
  async #fill(out: T[]): Promise<boolean> {
    const it = this.#it;
    const poll = this.#poll;
    const size = this.#size;
    const maxBytes = this.#maxBytes;
    const byteSize = this.#byteSize;
    const waitFor = this.#waitFor;
    let bytes = 0;
    for (;;) {
      if (turnDue()) {
        await giveTurn();
        if (this.#state !== RUNNING) return true;
      }
      let value: T;
      let polled = poll === undefined ? EMPTY : poll();
      if (polled === EMPTY && waitFor !== undefined) {
        await this.#link.race(waitFor(size - out.length));
        if (this.#state !== RUNNING) return true;
        polled = poll!();
      }
      if (polled !== EMPTY) {
        value = polled;
      } else {
        const r = resultOf<T>(ACTION, await this.#link.race(nextOf(it)));
        if (this.#state !== RUNNING) return true; // returned meanwhile
        if (r.done) return true;
        value = r.value;
      }
      out.push(value);
      if (out.length >= size) return false;
      if (byteSize !== undefined) {
        bytes += this.#sizeOf(byteSize, value);
        if (bytes >= maxBytes) return false;
      }
    }
  }

  /** Fill `out`, emitting early when `maxWaitMs` has passed since the first item. */
  async #fillTimed(out: T[]): Promise<boolean> {
    const it = this.#it;
    const size = this.#size;
    const maxBytes = this.#maxBytes;
    const byteSize = this.#byteSize;
    let bytes = 0;
    let deadline = 0;
    for (;;) {
      if (turnDue()) {
        await giveTurn();
        if (this.#state !== RUNNING) return true;
      }
      const pull = this.#pending ?? nextOf(it);
      this.#pending = pull;
      let r: IteratorResult<T> | typeof TIMEOUT;
      if (out.length === 0) {
        r = await this.#link.race(pull);
      } else {
        const remaining = deadline - performance.now();
        if (remaining <= 0) return false; // the pull stays pending for the next batch
        r = await this.#race(pull, remaining);
        if (r === TIMEOUT) return false;
      }
      this.#pending = null;
      if (this.#state !== RUNNING) return true;
      r = resultOf<T>(ACTION, r);
      if (r.done) return true;
      out.push(r.value);
      if (out.length === 1) deadline = performance.now() + this.#maxWaitMs;
      if (out.length >= size) return false;
      if (byteSize !== undefined) {
        bytes += this.#sizeOf(byteSize, r.value);
        if (bytes >= maxBytes) return false;
      }
    }
  }

  #race(
    pull: Promise<IteratorResult<T>>,
    ms: number,
  ): Promise<IteratorResult<T> | typeof TIMEOUT> {
    return this.#link.race(
      new Promise((resolve, reject) => {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          resolve(TIMEOUT);
        }, ms);
        pull.then((r) => {
          this.#clearTimer();
          resolve(r);
        }, (error) => {
          this.#clearTimer();
          reject(error);
        });
      }),
    );
  }

  /**
   * The user's `byteSize(item)`; when it throws, the source is returned (it did not fail). A
   * result that is not a finite number >= 0 is refused: NaN or a string would never reach
   * `maxBytes`, silently turning the byte limit (and the memory bound) off.
   */
  #sizeOf(byteSize: (item: T) => number, value: T): number {
    let n: number;
    try {
      n = byteSize(value);
    } catch (error) {
      this.#ownError = true;
      throw error;
    }
    if (typeof n !== "number" || !(n >= 0) || n === Infinity) {
      this.#ownError = true;
      throw new InvalidArgumentError(
        ACTION,
        "byteSize(item) must return a finite number >= 0",
        { received: n },
      );
    }
    return n;
  }

  /** Aborted: close now (the source is returned without waiting for it), report once. */
  #aborted(): unknown {
    const wasRunning = this.#state === RUNNING;
    const error = this.#link.error();
    this.#state = CLOSED;
    this.#error = undefined;
    this.#clearTimer();
    this.#link.detach();
    const pending = this.#pending;
    this.#pending = null;
    if (pending !== null) pending.catch(() => {});
    if (wasRunning) void closeQuietly(this.#it);
    return error;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  async return(value?: unknown): Promise<IteratorResult<T[]>> {
    const wasRunning = this.#state === RUNNING;
    this.#state = CLOSED;
    this.#error = undefined;
    this.#clearTimer();
    this.#link.detach();
    const pending = this.#pending;
    this.#pending = null;
    if (pending !== null) pending.catch(() => {}); // its item is dropped: the consumer left
    if (wasRunning) await closeIterator(this.#it);
    return { done: true, value: value as T[] };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/**
 * Group the items of `source` into arrays: by count (`size`), by bytes (`maxBytes`) and/or by
 * time (`maxWaitMs` since the batch's first item, even while the source is idle), whichever
 * limit is reached first.
 *
 * The final partial batch is kept; no empty batch is ever emitted. When the source throws, the
 * items pulled before the error are emitted as a batch first, then the error is thrown. An early
 * `break` returns the source (and clears the timer).
 *
 * @param source any sync or async iterable
 * @param options at least one of `size`, `maxBytes`, `maxWaitMs`; `byteSize` to count bytes;
 *   `signal` to abort
 * @returns an async iterable iterator of arrays
 * @throws {InvalidArgumentError} for missing or invalid limits
 *
 * @example
 * ```ts
 * import { batch } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const sizes: number[] = [];
 * for await (const b of batch([1, 2, 3, 4, 5], { size: 2 })) sizes.push(b.length);
 * assert.equal(sizes.join(), "2,2,1");
 *
 * // By bytes: typed arrays count exactly.
 * const chunks = [new Uint8Array(600), new Uint8Array(600), new Uint8Array(100)];
 * const out: number[] = [];
 * for await (const b of batch(chunks, { maxBytes: 1000 })) out.push(b.length);
 * assert.equal(out.join(), "2,1");
 * ```
 */
export function batch<T>(
  source: AnyIterable<T>,
  options: BatchOptions<T>,
): Stage<T[]> {
  const o = checkOptions<BatchOptions<T>>(ACTION, options, KNOWN);
  if (o.size === undefined && o.maxBytes === undefined && o.maxWaitMs === undefined) {
    throw new InvalidArgumentError(
      ACTION,
      "at least one of size, maxBytes or maxWaitMs is required",
      { received: options },
    );
  }
  let size = Infinity;
  if (o.size !== undefined) {
    if (typeof o.size !== "number" || !Number.isInteger(o.size) || o.size < 1) {
      throw new InvalidArgumentError(ACTION, "size must be an integer >= 1", { received: o.size });
    }
    size = o.size;
  }
  let maxBytes = Infinity;
  if (o.maxBytes !== undefined) {
    // Infinity is refused like an infinite size or maxWaitMs: "no byte limit" is said by leaving
    // maxBytes out, and an Infinity computed by mistake (an overflow) must not turn the limit off.
    if (typeof o.maxBytes !== "number" || !Number.isFinite(o.maxBytes) || !(o.maxBytes > 0)) {
      throw new InvalidArgumentError(ACTION, "maxBytes must be a finite number > 0", {
        received: o.maxBytes,
      });
    }
    maxBytes = o.maxBytes;
  }
  let maxWaitMs = 0;
  if (o.maxWaitMs !== undefined) {
    if (typeof o.maxWaitMs !== "number" || !Number.isFinite(o.maxWaitMs) || o.maxWaitMs <= 0) {
      throw new InvalidArgumentError(ACTION, "maxWaitMs must be a finite number > 0", {
        received: o.maxWaitMs,
      });
    }
    maxWaitMs = o.maxWaitMs;
  }
  const userByteSize = optionalFunction<(item: T) => number>(ACTION, "byteSize", o.byteSize);
  const signal = checkSignal(ACTION, o.signal);
  const byteSize = maxBytes === Infinity ? undefined : (userByteSize ?? byteSizeOf);
  const batcher = new Batcher(source, size, maxBytes, maxWaitMs, byteSize, signal);
  // Only a count limit makes the number of batches known in advance.
  const n = lengthOf(source);
  const known = n !== undefined && maxBytes === Infinity && maxWaitMs === 0;
  return withLength(batcher, known ? Math.ceil(n / size) : undefined);
}
