/**
 * Web `ReadableStream` ↔ async iterable, with cancellation both ways.
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { assertInteger, InvalidArgumentError } from "../errors.ts";
import { AbortLink, checkSignal } from "../_internal/abort.ts";
import { checkOptions } from "../_internal/options.ts";
import { closeQuietly, iteratorOf, nextOf, resultOf } from "../_internal/iterate.ts";
import type { AnyIterable } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

/** Options of {@linkcode fromReadable}. */
export interface FromReadableOptions {
  /**
   * Aborting it ends the iteration with `AbortedError` (even while a read is pending) and
   * cancels the stream with the signal's reason.
   */
  signal?: AbortSignal;
}

class ReaderIterator<T> implements Stage<T> {
  #reader: ReadableStreamDefaultReader<T> | null;
  readonly #link: AbortLink;
  /** The abort, reported once by the next `next()` when no read was pending. */
  #aborted = false;

  constructor(stream: ReadableStream<T>, signal: AbortSignal | undefined) {
    this.#reader = stream.getReader();
    this.#link = new AbortLink("iterate a ReadableStream", signal, () => this.#abort());
    if (signal?.aborted) this.#abort();
  }

  /** The signal fired: cancel the stream (without waiting for it) and report the abort once. */
  #abort(): void {
    const reader = this.#reader;
    if (reader === null) return;
    this.#reader = null;
    this.#aborted = true;
    this.#link.detach();
    reader.cancel(this.#link.signal?.reason).catch(() => {}).finally(() => reader.releaseLock());
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.#aborted) {
      this.#aborted = false;
      throw this.#link.error();
    }
    const reader = this.#reader;
    if (reader === null) return { done: true, value: undefined };
    let r: ReadableStreamReadResult<T>;
    try {
      r = await this.#link.race(reader.read());
    } catch (error) {
      if (this.#aborted) {
        this.#aborted = false;
        throw this.#link.error();
      }
      this.#release();
      throw error;
    }
    if (r.done) {
      this.#release();
      return { done: true, value: undefined };
    }
    if (turnDue()) await giveTurn(); // the chunk is taken: a later next() cannot overtake it
    return { done: false, value: r.value };
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    this.#aborted = false;
    this.#link.detach();
    const reader = this.#reader;
    if (reader !== null) {
      this.#reader = null;
      try {
        await reader.cancel(value);
      } finally {
        reader.releaseLock();
      }
    }
    return { done: true, value: value as T };
  }

  /** Same as `return()`: cancels the stream. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  #release(): void {
    const reader = this.#reader;
    this.#reader = null;
    this.#link.detach();
    reader?.releaseLock();
  }
}

/**
 * Iterate a web `ReadableStream` with `for await`. Stopping early (`break`, `return()`) cancels
 * the stream (its underlying source's `cancel` runs) and releases the lock; a stream error is
 * thrown at the consumer.
 *
 * @param stream a `ReadableStream` (not locked)
 * @param options optional `signal`
 * @returns an async iterable iterator of its chunks
 * @throws {InvalidArgumentError} when `stream` is not a ReadableStream or is locked, or for bad
 *   options
 *
 * @example
 * ```ts
 * import { fromReadable } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const stream = new Blob(["a", "b"]).stream().pipeThrough(new TextDecoderStream());
 * let text = "";
 * for await (const chunk of fromReadable(stream)) text += chunk;
 * assert.equal(text, "ab");
 * ```
 */
export function fromReadable<T>(
  stream: ReadableStream<T>,
  options?: FromReadableOptions,
): Stage<T> {
  const action = "iterate a ReadableStream";
  const o = checkOptions<FromReadableOptions>(action, options, ["signal"]);
  const signal = checkSignal(action, o.signal);
  if (!(stream instanceof ReadableStream)) {
    throw new InvalidArgumentError(action, "the argument must be a ReadableStream", {
      received: stream,
    });
  }
  if (stream.locked) {
    throw new InvalidArgumentError(action, "the stream is locked by another reader", {
      received: stream,
    });
  }
  return new ReaderIterator(stream, signal);
}

/** Options of {@linkcode toReadable}. */
export interface ToReadableOptions {
  /** Items the stream pulls ahead of its reader (integer >= 0, default 0: pull on demand). */
  highWaterMark?: number;
  /**
   * Aborting it errors the stream with `AbortedError` (even while the source's `next()` is
   * pending) and returns the source without waiting for it.
   */
  signal?: AbortSignal;
}

/**
 * Expose a sync or async iterable as a web `ReadableStream` (for `Response`, `pipeTo`,
 * `pipeThrough`, ...). The source is pulled on demand; cancelling the stream calls the source's
 * `return()`; a source error errors the stream.
 *
 * @param source any sync or async iterable
 * @param options `highWaterMark` (default 0), `signal`
 * @returns a `ReadableStream` of the items
 *
 * @example
 * ```ts
 * import { toReadable } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * async function* words() {
 *   yield "hello ";
 *   yield "world";
 * }
 * const text = await new Response(toReadable(words()).pipeThrough(new TextEncoderStream())).text();
 * assert.equal(text, "hello world");
 * ```
 */
export function toReadable<T>(
  source: AnyIterable<T>,
  options?: ToReadableOptions,
): ReadableStream<T> {
  const action = "make a ReadableStream";
  const o = checkOptions<ToReadableOptions>(action, options, ["highWaterMark", "signal"]);
  const highWaterMark = o.highWaterMark === undefined
    ? 0
    : assertInteger(action, "highWaterMark", o.highWaterMark, 0);
  const signal = checkSignal(action, o.signal);
  const it = iteratorOf(action, source);
  let ended = false; // the source ended, broke, was cancelled or aborted: never touch it again
  let ctl: ReadableStreamDefaultController<T> | undefined;
  const link = new AbortLink(action, signal, () => {
    if (ended) return;
    ended = true;
    try {
      ctl?.error(link.error());
    } catch { /* already closed */ }
    void closeQuietly(it); // its pending next() may never settle
  });
  const stream = new ReadableStream<T>({
    start(controller) {
      ctl = controller;
      if (signal?.aborted) {
        ended = true;
        controller.error(link.error());
        void closeQuietly(it);
      }
    },
    async pull(controller) {
      let r: IteratorResult<T>;
      try {
        r = resultOf<T>(action, await link.race(nextOf(it)));
      } catch (error) {
        if (ended) return; // aborted: the stream is already errored
        ended = true;
        link.detach();
        controller.error(error);
        return;
      }
      if (ended) return;
      if (r.done) {
        ended = true;
        link.detach();
        controller.close();
      } else controller.enqueue(r.value);
    },
    async cancel(reason) {
      if (ended) return;
      ended = true;
      link.detach();
      if (typeof it.return === "function") await it.return(reason);
    },
  }, new CountQueuingStrategy({ highWaterMark }));
  return stream;
}
