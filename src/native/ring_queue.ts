/**
 * `RingQueue`: a bounded queue of byte messages in Rust memory, shared by the main thread and
 * Workers (native only: it needs the addon in every thread that uses it).
 *
 * Create it on one side, send its {@linkcode RingQueue.id} to the other (a number, e.g. by
 * `postMessage`) and {@linkcode RingQueue.open} it there. Workers may block
 * ({@linkcode RingQueue.push}, {@linkcode RingQueue.pop}); the main thread consumes with
 * `for await` (it never blocks: it drains what is queued, then waits for a wake-up from Rust).
 *
 * @module
 */

import {
  assertInteger,
  assertNumber,
  ClosedError,
  InternalError,
  InvalidArgumentError,
  TimeoutError,
} from "../errors.ts";
import { optionalBoolean, optionsOf } from "../_internal/options.ts";
import type { NativeBinding } from "./binding.ts";
import { ProducerError } from "./errors.ts";
import { requireNative } from "./load.ts";

/** Options of {@linkcode RingQueue.push} and {@linkcode RingQueue.pop}. */
export interface RingWaitOptions {
  /** Give up after this many milliseconds ({@linkcode TimeoutError}); default: wait forever. */
  timeoutMs?: number;
}

/** What a message may be: copied into the queue as bytes. */
export type RingMessage = ArrayBufferView | ArrayBuffer;

function bytesOf(action: string, message: RingMessage): Uint8Array {
  if (message instanceof Uint8Array) return message;
  if (ArrayBuffer.isView(message)) {
    return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  }
  if (message instanceof ArrayBuffer) return new Uint8Array(message);
  throw new InvalidArgumentError(
    action,
    "a message must be an ArrayBuffer or a typed array",
    { received: message },
  );
}

/**
 * Rethrow an addon error as spool's typed error; `id` (the queue's) is what was received, unless
 * the addon's message names a value itself.
 */
export function ringError(action: string, error: unknown, id: number): Error {
  if (!(error instanceof Error)) {
    // napi-rs throws Errors only (a producer's failure arrives as one): anything else is a bug.
    return new InternalError(action, "the addon threw a non-Error", { received: error });
  }
  const code = (error as { code?: string }).code;
  if (code === "Closing") {
    const released = /released/.test(error.message);
    return new ClosedError(
      action,
      released ? "the RingQueue is closed and released" : "the RingQueue is closed",
      { received: `queue id ${id}`, cause: error },
    );
  }
  if (code === "InvalidArg") {
    const reason = error.message.replace(/^Cannot [^:]+: /, "");
    const parts = /^(.*), received (.*)$/s.exec(reason);
    return parts
      // shown as the addon rendered it, not as a quoted string
      ? new InvalidArgumentError(action, parts[1]!, {
        received: parts[2]!,
        shown: parts[2]!,
        cause: error,
      })
      : new InvalidArgumentError(action, reason, { received: `queue id ${id}`, cause: error });
  }
  return new ProducerError(action, `the producer failed: ${error.message}`, {
    received: `queue id ${id}`,
    cause: error,
  });
}

/** The `timeoutMs` of push/pop options: undefined (wait forever) or a finite number >= 0. */
function timeoutOf(action: string, options: unknown): number | undefined {
  const checked = optionsOf(action, options, ["timeoutMs"]);
  return checked.timeoutMs === undefined
    ? undefined
    : assertNumber(action, "timeoutMs", checked.timeoutMs, 0);
}

/** The `max` and `copy` of tryPopMany/batches. */
function popManyArgs(action: string, max: unknown, options: unknown): [number, boolean] {
  assertInteger(action, "max", max, 1);
  const checked = optionsOf(action, options, ["copy"]);
  return [max as number, optionalBoolean(action, "copy", checked.copy) ?? true];
}

/**
 * A bounded queue of byte messages shared across threads by id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeStatus, RingQueue } from "@spool/spool";
 *
 * if (nativeStatus().implementation === "native") {
 *   using q = RingQueue.create(4);
 *   q.tryPush(new Uint8Array([1, 2, 3]));
 *   q.close();
 *   const got: number[][] = [];
 *   for await (const m of q) got.push([...m]);
 *   assert.ok(JSON.stringify(got) === "[[1,2,3]]");
 * }
 * ```
 */
export class RingQueue implements AsyncIterable<Uint8Array>, Disposable {
  /** The id to pass to {@linkcode RingQueue.open} in another thread. */
  readonly id: number;
  readonly #binding: NativeBinding;

  private constructor(binding: NativeBinding, id: number) {
    this.#binding = binding;
    this.id = id;
  }

  /**
   * A new queue holding at most `capacity` messages.
   *
   * @throws {NativeLoadError} when the addon is not loaded (there is no TypeScript RingQueue).
   */
  static create(capacity: number): RingQueue {
    assertInteger("create a RingQueue", "capacity", capacity, 1, 2 ** 32 - 1); // the addon's u32
    const binding = requireNative();
    return new RingQueue(binding, binding.ringCreate(capacity));
  }

  /** The queue `id` created in another thread (or this one). */
  static open(id: number): RingQueue {
    const action = "open a RingQueue";
    assertInteger(action, "id", id, 1, 2 ** 32 - 1);
    const binding = requireNative();
    try {
      binding.ringStats(id);
    } catch (error) {
      throw new InvalidArgumentError(
        action,
        "no RingQueue has this id (released or never created)",
        { received: id, cause: error },
      );
    }
    return new RingQueue(binding, id);
  }

  /**
   * Copy `message` into the queue, blocking while it is full (Workers; on the main thread use
   * {@linkcode RingQueue.tryPush}).
   *
   * @throws {ClosedError} when the queue is closed (the consumer stopped)
   * @throws {TimeoutError} when `timeoutMs` passed
   */
  push(message: RingMessage, options: RingWaitOptions = {}): void {
    const action = "push to RingQueue";
    const data = bytesOf(action, message);
    const timeoutMs = timeoutOf(action, options);
    let ok: boolean;
    try {
      ok = this.#binding.ringPush(this.id, data, timeoutMs);
    } catch (error) {
      throw ringError(action, error, this.id);
    }
    if (!ok) throw new TimeoutError(action, "the queue stayed full", { received: timeoutMs });
  }

  /** Copy `message` into the queue unless it is full; never blocks. */
  tryPush(message: RingMessage): boolean {
    const action = "push to RingQueue";
    const data = bytesOf(action, message);
    try {
      return this.#binding.ringTryPush(this.id, data);
    } catch (error) {
      throw ringError(action, error, this.id);
    }
  }

  /**
   * Take the next message, blocking while the queue is empty (Workers). Returns undefined at
   * the end (closed and drained).
   *
   * @throws {ProducerError} when the queue failed (after the messages queued before)
   * @throws {TimeoutError} when `timeoutMs` passed
   */
  pop(options: RingWaitOptions = {}): Uint8Array | undefined {
    const action = "pop from RingQueue";
    const timeoutMs = timeoutOf(action, options);
    let got: Uint8Array | null | false;
    try {
      got = this.#binding.ringPop(this.id, timeoutMs);
    } catch (error) {
      throw ringError(action, error, this.id);
    }
    if (got === false) {
      throw new TimeoutError(action, "the queue stayed empty", { received: timeoutMs });
    }
    return got ?? undefined;
  }

  /**
   * Up to `max` queued messages without waiting (maybe none); null at the end.
   *
   * By default each message is copied into a new JS-owned buffer and its Rust buffer goes
   * straight back to the pushes (warm memory: a push is a memcpy). With `copy: false` the
   * message is handed over without a copy (an external buffer freed by the garbage collector),
   * and pushes allocate fresh memory: slower when page faults are expensive (see
   * docs/bench-native.md).
   */
  tryPopMany(max = 64, options: { copy?: boolean } = {}): Uint8Array[] | null {
    const action = "pop from RingQueue";
    const [n, copy] = popManyArgs(action, max, options);
    return this.#popMany(n, copy);
  }

  #popMany(max: number, copy: boolean): Uint8Array[] | null {
    try {
      return copy
        ? this.#binding.ringPopManyCopied(this.id, max)
        : this.#binding.ringPopMany(this.id, max);
    } catch (error) {
      throw ringError("pop from RingQueue", error, this.id);
    }
  }

  /** Resolve when a message or the end is there (main thread; no thread is blocked). */
  ready(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        if (this.#binding.ringWait(this.id, () => resolve())) resolve();
      } catch (error) {
        reject(ringError("wait on RingQueue", error, this.id));
      }
    });
  }

  /**
   * Messages in batches of up to `max`, without blocking the thread (see `tryPopMany`). The
   * arguments are checked at the call, not at the first `next()`.
   */
  batches(
    max = 64,
    options: { copy?: boolean } = {},
  ): AsyncGenerator<Uint8Array[], void, undefined> {
    const [n, copy] = popManyArgs("pop from RingQueue", max, options);
    return this.#batches(n, copy);
  }

  async *#batches(max: number, copy: boolean): AsyncGenerator<Uint8Array[], void, undefined> {
    while (true) {
      const got = this.#popMany(max, copy);
      if (got === null) return;
      if (got.length > 0) yield got;
      else await this.ready();
    }
  }

  /** Every message until the end, without blocking the thread. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const batch of this.batches()) yield* batch;
  }

  /** Messages and bytes queued, and whether the queue is closed. */
  stats(): { messages: number; bytes: number; closed: boolean } {
    const { messages, bytes, closed } = this.#call(
      "read RingQueue stats",
      (binding) => binding.ringStats(this.id),
    );
    return { messages, bytes, closed };
  }

  /** An addon call whose errors become spool's typed errors. */
  #call<T>(action: string, fn: (binding: NativeBinding) => T): T {
    try {
      return fn(this.#binding);
    } catch (error) {
      throw ringError(action, error, this.id);
    }
  }

  /**
   * No more messages: consumers get what is queued, then the end (with `discard`, queued
   * messages are dropped: use it when the consumer stops). Pushes throw from now on.
   */
  close(options: { discard?: boolean } = {}): void {
    const action = "close RingQueue";
    const checked = optionsOf(action, options, ["discard"]);
    const discard = optionalBoolean(action, "discard", checked.discard) ?? false;
    this.#call(action, (binding) => binding.ringClose(this.id, discard));
  }

  /** Close with an error: consumers get what is queued, then a {@linkcode ProducerError}. */
  fail(reason: unknown): void {
    const text = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    this.#call("fail RingQueue", (binding) => binding.ringFail(this.id, text));
  }

  /**
   * In a producer Worker: if this Worker ends or is terminated before the queue is closed, the
   * queue fails, so its consumer gets a {@linkcode ProducerError} instead of waiting forever.
   */
  attachProducer(): void {
    this.#call("attach a producer to RingQueue", (binding) => binding.ringAttachProducer(this.id));
  }

  /** Close (dropping queued messages) and forget the queue; its id becomes invalid everywhere. */
  release(): void {
    this.#call("release RingQueue", (binding) => binding.ringRelease(this.id));
  }

  /** Same as {@linkcode RingQueue.release}. */
  [Symbol.dispose](): void {
    this.release();
  }
}
