/**
 * `channel`: a bounded queue with an async-iterator end (the queue ↔ iterator bridge).
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { assertInteger, ClosedError } from "../errors.ts";
import { EMPTY, kPoll, type Pollable } from "./internal.ts";
import { abortError, checkSignal } from "../_internal/abort.ts";
import { checkOptions } from "../_internal/options.ts";
import { Ring } from "../_internal/ring.ts";
import { type Waiter, waiter } from "../_internal/iterate.ts";
import { afterTurn, turnDue } from "../_internal/turn.ts";

/** Options of {@linkcode channel}. */
export interface ChannelOptions {
  /**
   * How many sent values may wait for a receiver (integer >= 0). With 0, `send` resolves only
   * when a receiver has taken the value (a rendezvous).
   */
  capacity: number;
  /** Aborting it rejects pending and later sends and receives with `AbortedError`. */
  signal?: AbortSignal;
}

/**
 * A bounded channel: producers `send`, one consumer iterates (several consumers may iterate
 * at once; each value then goes to exactly one of them, in the order they asked).
 *
 * The end of the stream and a failure are recorded as channel state, never as values, so any
 * value (an `Error` object, `undefined`, `null`, `0`) travels as data.
 */
export interface Channel<T> extends Stage<T> {
  /**
   * Send a value; resolves when it is buffered (or taken, with capacity 0). Waits while the
   * buffer is full. Rejects with `ClosedError` once the channel is closed, failed or its
   * consumer has returned, and with `AbortedError` once the signal is aborted.
   */
  send(value: T): Promise<void>;
  /**
   * Send without waiting: true when the value was buffered or handed to a waiting receiver,
   * false when the buffer is full. Throws `ClosedError`/`AbortedError` like `send`.
   */
  trySend(value: T): boolean;
  /** No more values: the consumer gets what was sent before, then the end. Idempotent. */
  close(): void;
  /**
   * End the stream with `error`: the consumer gets what was sent before, then `error` is thrown
   * from its `next()` (once), then the end. Ignored when already closed or failed.
   */
  fail(error: unknown): void;
  /** True once `close`, `fail`, `return` or an abort happened (sends are refused). */
  readonly closed: boolean;
  /** Number of values waiting in the buffer (not counting blocked senders). */
  readonly size: number;
}

const ACTION_SEND = "send on a channel";
const ACTION_RECEIVE = "receive from a channel";

interface PendingSend<T> {
  value: T;
  resolve(): void;
  reject(error: unknown): void;
}

const OPEN = 0;
const CLOSING = 1; // close()/fail() called: drain, then end/fail
const DONE = 2; // everything delivered, or the consumer returned, or aborted

class ChannelImpl<T> implements Channel<T>, Pollable<T> {
  readonly #capacity: number;
  readonly #buffer: Ring<T>;
  readonly #senders = new Ring<PendingSend<T>>(2);
  readonly #receivers = new Ring<Waiter<T>>(2);
  readonly #signal: AbortSignal | undefined;
  #onAbort: (() => void) | null = null;
  #state = OPEN;
  /** The failure to deliver after the buffered values (the internal sentinel). */
  #failure: { error: unknown } | null = null;
  /** Why sends are refused. */
  #refusal: unknown = undefined;

  constructor(capacity: number, signal: AbortSignal | undefined) {
    this.#capacity = capacity;
    this.#buffer = new Ring(Math.min(Math.max(capacity, 1), 1024));
    this.#signal = signal;
    if (signal?.aborted) {
      this.#abort();
    } else if (signal) {
      this.#onAbort = () => this.#abort();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  get closed(): boolean {
    return this.#state !== OPEN;
  }

  get size(): number {
    return this.#buffer.length;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  send(value: T): Promise<void> {
    try {
      if (this.trySend(value)) return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => this.#senders.push({ value, resolve, reject }));
  }

  trySend(value: T): boolean {
    if (this.#state !== OPEN) throw this.#refusalError();
    if (this.#receivers.length > 0) {
      const w = this.#receivers.shift();
      if (turnDue()) afterTurn({ done: false, value }).then(w.resolve);
      else w.resolve({ done: false, value });
      return true;
    }
    if (this.#buffer.length < this.#capacity) {
      this.#buffer.push(value);
      return true;
    }
    return false;
  }

  close(): void {
    if (this.#state !== OPEN) return;
    this.#state = CLOSING;
    this.#refusal = new ClosedError(ACTION_SEND, "the channel is closed");
    this.#settleIfDrained();
  }

  fail(error: unknown): void {
    if (this.#state !== OPEN) return;
    this.#failure = { error };
    this.#state = CLOSING;
    this.#refusal = new ClosedError(ACTION_SEND, "the channel has failed", {
      received: error,
      cause: error,
    });
    this.#settleIfDrained();
  }

  next(): Promise<IteratorResult<T>> {
    const buffer = this.#buffer;
    // A value taken now is handed over after a turn when one is due (timers and signals run
    // even when sender and receiver only ever wait on each other in memory).
    if (buffer.length > 0) {
      const value = buffer.shift();
      this.#admitSender();
      return turnDue()
        ? afterTurn({ done: false, value })
        : Promise.resolve({ done: false, value });
    }
    if (this.#senders.length > 0) { // capacity 0: take straight from a blocked sender
      const s = this.#senders.shift();
      s.resolve();
      const value = s.value;
      return turnDue()
        ? afterTurn({ done: false, value })
        : Promise.resolve({ done: false, value });
    }
    if (this.#state === OPEN) {
      const [p, w] = waiter<T>();
      this.#receivers.push(w);
      return p;
    }
    return this.#terminal();
  }

  [kPoll](): T | typeof EMPTY {
    if (this.#buffer.length === 0) return EMPTY;
    const value = this.#buffer.shift();
    this.#admitSender();
    return value;
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    if (this.#state !== DONE || this.#failure !== null) {
      this.#finish(new ClosedError(ACTION_SEND, "the consumer has stopped receiving"));
      this.#failure = null;
    }
    return Promise.resolve({ done: true, value: value as T });
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  /** Move one blocked sender's value into the buffer (after a receive made room). */
  #admitSender(): void {
    if (this.#senders.length > 0 && this.#buffer.length < this.#capacity) {
      const s = this.#senders.shift();
      this.#buffer.push(s.value);
      s.resolve();
    }
    if (this.#state === CLOSING) this.#settleIfDrained();
  }

  /** Closing and nothing left to deliver: give waiting receivers the end (or the failure). */
  #settleIfDrained(): void {
    if (this.#buffer.length > 0 || this.#senders.length > 0) return;
    while (this.#receivers.length > 0) {
      const w = this.#receivers.shift();
      this.#terminal().then(w.resolve, w.reject);
    }
  }

  /** The result once drained: the failure once, then done. */
  #terminal(): Promise<IteratorResult<T>> {
    this.#state = DONE;
    this.#detach();
    const failure = this.#failure;
    if (failure !== null) {
      this.#failure = null;
      return Promise.reject(failure.error);
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  /** Stop now: drop the buffer, reject blocked senders, end waiting receivers. */
  #finish(refusal: unknown, receiverError?: unknown): void {
    this.#state = DONE;
    this.#refusal = refusal;
    this.#detach();
    this.#buffer.clear();
    while (this.#senders.length > 0) this.#senders.shift().reject(refusal);
    while (this.#receivers.length > 0) {
      const w = this.#receivers.shift();
      if (receiverError !== undefined) w.reject(receiverError);
      else w.resolve({ done: true, value: undefined });
    }
  }

  #abort(): void {
    if (this.#state === DONE && this.#failure === null) return;
    const error = abortError(ACTION_RECEIVE, this.#signal!);
    const refusal = abortError(ACTION_SEND, this.#signal!);
    const waiting = this.#receivers.length > 0;
    this.#finish(refusal, error);
    // Sticky: a receiver that was not waiting gets the abort on its next call.
    this.#failure = waiting ? null : { error };
  }

  #refusalError(): unknown {
    return this.#refusal ?? new ClosedError(ACTION_SEND, "the channel is closed");
  }

  #detach(): void {
    if (this.#onAbort !== null) {
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#onAbort = null;
    }
  }
}

/**
 * Make a bounded channel: the bridge between code that pushes values (callbacks, event
 * handlers, other tasks) and code that iterates them with `for await`.
 *
 * `send` waits while `capacity` values are buffered (backpressure). `close()` ends the stream
 * after the buffered values; `fail(error)` ends it with an error thrown at the consumer after
 * the buffered values. Because the end and the failure are channel state (an internal
 * sentinel), an `Error` sent with `send` is delivered as a value, not thrown. When the consumer
 * stops (`break`), the buffer is dropped and senders get `ClosedError`, so a producer loop
 * stops too. The iterator is meant for one consumer; several may share it as a work queue.
 *
 * @param options `capacity` (>= 0) and an optional `signal`
 * @returns the channel (an async iterable iterator with `send`, `trySend`, `close`, `fail`)
 * @throws {InvalidArgumentError} for a bad capacity or signal
 *
 * @example
 * ```ts
 * import { channel } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const ch = channel<number | Error>({ capacity: 2 });
 * (async () => {
 *   await ch.send(1);
 *   await ch.send(new Error("a value, not a failure"));
 *   ch.close();
 * })();
 * const got: unknown[] = [];
 * for await (const v of ch) got.push(v);
 * assert.equal(got.length, 2);
 * assert.ok(got[1] instanceof Error);
 * ```
 */
export function channel<T>(options: ChannelOptions): Channel<T> {
  const action = "create a channel";
  const o = checkOptions<ChannelOptions>(action, options, ["capacity", "signal"]);
  const capacity = assertInteger(action, "capacity", o.capacity, 0);
  const signal = checkSignal(action, o.signal);
  return new ChannelImpl<T>(capacity, signal);
}
