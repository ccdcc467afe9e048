/**
 * Web `ReadableStream` ↔ async iterable, with cancellation both ways.
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { assertInteger, InvalidArgumentError } from "../errors.ts";
import { checkOptions, iteratorOf } from "./internal.ts";
import type { AnyIterable } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

class ReaderIterator<T> implements Stage<T> {
  #reader: ReadableStreamDefaultReader<T> | null;

  constructor(stream: ReadableStream<T>) {
    this.#reader = stream.getReader();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    const reader = this.#reader;
    if (reader === null) return { done: true, value: undefined };
    let r: ReadableStreamReadResult<T>;
    try {
      r = await reader.read();
    } catch (error) {
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
    reader?.releaseLock();
  }
}

/**
 * Iterate a web `ReadableStream` with `for await`. Stopping early (`break`, `return()`) cancels
 * the stream (its underlying source's `cancel` runs) and releases the lock; a stream error is
 * thrown at the consumer.
 *
 * @param stream a `ReadableStream` (not locked)
 * @returns an async iterable iterator of its chunks
 * @throws {InvalidArgumentError} when `stream` is not a ReadableStream or is locked
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
): Stage<T> {
  const action = "iterate a ReadableStream";
  if (!(stream instanceof ReadableStream)) {
    throw new InvalidArgumentError(action, "the argument must be a ReadableStream", stream);
  }
  if (stream.locked) {
    throw new InvalidArgumentError(action, "the stream is locked by another reader", stream);
  }
  return new ReaderIterator(stream);
}

/** Options of {@linkcode toReadable}. */
export interface ToReadableOptions {
  /** Items the stream pulls ahead of its reader (integer >= 0, default 0: pull on demand). */
  highWaterMark?: number;
}

/**
 * Expose a sync or async iterable as a web `ReadableStream` (for `Response`, `pipeTo`,
 * `pipeThrough`, ...). The source is pulled on demand; cancelling the stream calls the source's
 * `return()`; a source error errors the stream.
 *
 * @param source any sync or async iterable
 * @param options `highWaterMark` (default 0)
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
  const o = checkOptions<ToReadableOptions>(action, options);
  const highWaterMark = o.highWaterMark === undefined
    ? 0
    : assertInteger(action, "highWaterMark", o.highWaterMark, 0);
  const it = iteratorOf(action, source);
  const stream = new ReadableStream<T>({
    async pull(controller) {
      let r: IteratorResult<T>;
      try {
        r = await it.next();
      } catch (error) {
        controller.error(error);
        return;
      }
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  }, new CountQueuingStrategy({ highWaterMark }));
  return stream;
}
