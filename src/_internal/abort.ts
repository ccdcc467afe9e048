/**
 * Cancellation written once: the {@linkcode AbortedError} of an aborted signal (the signal's
 * reason as `received` and `cause`), the signal option check, a promise raced against a signal,
 * and {@linkcode AbortLink}, a stage's one listener for its whole life.
 *
 * @module
 */

import { AbortedError, InvalidArgumentError } from "../errors.ts";

/** The {@linkcode AbortedError} for an aborted signal. */
export function abortError(action: string, signal: AbortSignal): AbortedError {
  return new AbortedError(action, "the signal was aborted", {
    received: signal.reason,
    cause: signal.reason,
  });
}

/** Throw {@linkcode InvalidArgumentError} unless `signal` is undefined or an AbortSignal. */
export function checkSignal(action: string, signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(action, "signal must be an AbortSignal", { received: signal });
  }
  return signal;
}

/** Throw the signal's reason wrapped in {@linkcode AbortedError} when it is aborted. */
export function throwIfAborted(action: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw abortError(action, signal);
  }
}

/** Await `promise`, rejecting early with `AbortedError` when `signal` aborts. */
export function raceAbort<T>(
  action: string,
  promise: Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (!signal) return promise;
  throwIfAborted(action, signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      try {
        throwIfAborted(action, signal);
      } catch (error) {
        reject(error);
      }
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Ties a stage to its optional `AbortSignal` with one listener for the stage's life (never one
 * per item). `race(p)` settles with `p`, or rejects with the {@linkcode AbortedError} as soon
 * as the signal aborts, so a source whose `next()` never settles cannot hold the consumer;
 * `onAbort` lets the stage stop its own work (return its source, clear a timer). `detach()`
 * removes the listener (call it when the stage ends, fails or is returned).
 */
export class AbortLink {
  readonly signal: AbortSignal | undefined;
  readonly #action: string;
  #reject: ((error: unknown) => void) | null = null;
  #listener: (() => void) | null = null;

  constructor(action: string, signal: AbortSignal | undefined, onAbort?: () => void) {
    this.#action = action;
    this.signal = signal;
    if (signal !== undefined && !signal.aborted) {
      this.#listener = () => {
        this.#listener = null;
        const reject = this.#reject;
        this.#reject = null;
        if (reject !== null) reject(this.error());
        onAbort?.();
      };
      signal.addEventListener("abort", this.#listener, { once: true });
    }
  }

  /** True once the signal is aborted. */
  get aborted(): boolean {
    return this.signal?.aborted ?? false;
  }

  /** The {@linkcode AbortedError} for this stage (the signal's reason as `cause`). */
  error(): AbortedError {
    return abortError(this.#action, this.signal!);
  }

  /** Throw the {@linkcode AbortedError} when the signal is aborted. */
  throwIfAborted(): void {
    if (this.signal?.aborted) throw this.error();
  }

  /** `p`, or the abort (whichever comes first). Without a signal, `p` itself. */
  race<V>(p: Promise<V>): Promise<V> {
    const signal = this.signal;
    if (signal === undefined) return p;
    if (signal.aborted) {
      p.catch(() => {}); // its outcome no longer matters
      return Promise.reject(this.error());
    }
    return new Promise<V>((resolve, reject) => {
      this.#reject = reject;
      p.then((v) => {
        this.#reject = null;
        resolve(v);
      }, (error) => {
        this.#reject = null;
        reject(error);
      });
    });
  }

  /** Remove the listener (idempotent). */
  detach(): void {
    if (this.#listener !== null) {
      this.signal?.removeEventListener("abort", this.#listener);
      this.#listener = null;
    }
    this.#reject = null;
  }
}
