/**
 * THE rule for what counts as a source, and the one place that opens one, for every area
 * (stream stages, `pool.map`, `StatefulLoop.iterate`, pipeline sources): strings are refused,
 * iterator methods must be functions, a sync iterator's promise values are awaited, a
 * non-object result is an error. Also the small protocol helpers around it (`nextOf`,
 * `resultOf`, `closeIterator`, `waiter`).
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

/** Any sync or async iterable. */
export type AnyIterable<T> = AsyncIterable<T> | Iterable<T>;

/** True when `value` has a callable `then`. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/** A resolved `{ done: true }` result (a fresh object each time: callers may keep it). */
export function doneResult<T>(): Promise<IteratorResult<T>> {
  return Promise.resolve({ done: true, value: undefined });
}

/** True when `r` can be an iterator result: an object (as `for await` requires). */
export function isResult(r: unknown): r is IteratorResult<unknown> {
  return r !== null && (typeof r === "object" || typeof r === "function");
}

/** The error for a source whose `next()` gave something other than an iterator result. */
export function badResult(action: string, r: unknown): InvalidArgumentError {
  return new InvalidArgumentError(
    action,
    "the source's next() must give an iterator result object ({ done, value })",
    { received: r },
  );
}

/** `r` when it is an iterator result object, else throw {@linkcode badResult}. */
export function resultOf<T>(action: string, r: unknown): IteratorResult<T> {
  if (isResult(r)) return r as IteratorResult<T>;
  throw badResult(action, r);
}

/**
 * `it.next()` as a promise, whatever the source does: a `next()` that throws synchronously
 * becomes a rejection (a stage calling `.then` on it must not throw, or the throw would escape
 * into a callback as an unhandled rejection), and a plain result object (allowed by `for await`)
 * is wrapped. Costs nothing for a native promise (`Promise.resolve` returns it as is).
 */
export function nextOf<T>(it: AsyncIterator<T>): Promise<IteratorResult<T>> {
  try {
    return Promise.resolve(it.next());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Adapts a sync iterator to the async iterator protocol (values that are promises are awaited). */
class SyncAdaptor<T> implements AsyncIterator<T> {
  readonly #it: Iterator<T>;
  readonly #action: string;
  constructor(it: Iterator<T>, action: string) {
    this.#it = it;
    this.#action = action;
  }
  next(): Promise<IteratorResult<T>> {
    let r: IteratorResult<T>;
    try {
      r = this.#it.next();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!isResult(r)) return Promise.reject(badResult(this.#action, r));
    if (!r.done && isThenable(r.value)) {
      return Promise.resolve(r.value).then(
        (value) => ({ done: false, value: value as T }),
        (error) => {
          try {
            this.#it.return?.();
          } catch { /* the rejection is what the consumer sees */ }
          throw error;
        },
      );
    }
    return Promise.resolve(r);
  }
  return(value?: unknown): Promise<IteratorResult<T>> {
    try {
      const r = this.#it.return?.(value as T);
      return Promise.resolve(r ?? { done: true, value: value as T });
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** A source opened for iteration: its sync iterator, or its async one (never both). */
export type Opened<T> =
  | { readonly sync: Iterator<T>; readonly async?: undefined }
  | { readonly sync?: undefined; readonly async: AsyncIterator<T> };

/** The source's `[key]` method, undefined when absent (null counts as absent, as for await). */
function methodOf(
  action: string,
  source: object,
  key: symbol,
  label: string,
): ((this: unknown) => unknown) | undefined {
  const m = (source as Record<symbol, unknown>)[key];
  if (m === undefined || m === null) return undefined;
  if (typeof m !== "function") {
    throw new InvalidArgumentError(action, `the source's [${label}] must be a function`, {
      received: m,
    });
  }
  return m as (this: unknown) => unknown;
}

/** Check what `[label]()` returned: an object with a `next()` method. */
function checkIterator<I>(action: string, it: unknown, label: string): I {
  if (it === null || (typeof it !== "object" && typeof it !== "function")) {
    throw new InvalidArgumentError(
      action,
      `the source's [${label}]() must return an iterator object`,
      { received: it },
    );
  }
  if (typeof (it as { next?: unknown }).next !== "function") {
    throw new InvalidArgumentError(action, "the source's iterator has no next() method", {
      received: it,
    });
  }
  return it as I;
}

/** Refuse a string source (iterating characters is almost always a mistake in a pipeline). */
function refuseString(action: string, source: unknown): void {
  if (typeof source === "string" || source instanceof String) {
    throw new InvalidArgumentError(
      action,
      "the source is a string, not an iterable of items (it would iterate characters)",
      { received: source },
    );
  }
}

function notIterable(action: string, source: unknown): InvalidArgumentError {
  return new InvalidArgumentError(
    action,
    "the source must be an iterable or async iterable",
    { received: source },
  );
}

/**
 * THE rule of the stream area for "is it a source", and the one place that opens one:
 *
 * - a string (primitive or `String` object) is refused;
 * - otherwise a non-null object or function whose `[Symbol.asyncIterator]` is a function is an
 *   async source; else one whose `[Symbol.iterator]` is a function is a sync source (a
 *   `null`/`undefined` method counts as absent, as in `for await`);
 * - a method that is present but not a function, an iterator that is not an object or has no
 *   `next()` method are {@linkcode InvalidArgumentError}s (where `for await` gives a `TypeError`);
 * - an error thrown by the source's own `[Symbol.asyncIterator]()` passes through unchanged.
 */
export function openSource<T>(action: string, source: unknown): Opened<T> {
  refuseString(action, source);
  if (source === null || (typeof source !== "object" && typeof source !== "function")) {
    throw notIterable(action, source);
  }
  const am = methodOf(action, source, Symbol.asyncIterator, "Symbol.asyncIterator");
  if (am !== undefined) {
    return { async: checkIterator(action, am.call(source), "Symbol.asyncIterator") };
  }
  const sm = methodOf(action, source, Symbol.iterator, "Symbol.iterator");
  if (sm !== undefined) return { sync: checkIterator(action, sm.call(source), "Symbol.iterator") };
  throw notIterable(action, source);
}

/**
 * True when `source` passes the rule of {@linkcode openSource} without opening it (strings are
 * not sources; the iterator methods must be functions).
 */
export function isAnyIterable(source: unknown): source is AnyIterable<unknown> {
  if (typeof source === "string" || source instanceof String) return false;
  if (source === null || (typeof source !== "object" && typeof source !== "function")) {
    return false;
  }
  const s = source as Record<symbol, unknown>;
  const am = s[Symbol.asyncIterator];
  if (am !== undefined && am !== null) return typeof am === "function";
  return typeof s[Symbol.iterator] === "function";
}

/**
 * The async iterator of a sync or async iterable (opened with {@linkcode openSource}'s rule), or
 * an {@linkcode InvalidArgumentError} naming `action`. A sync iterator is adapted (its promise
 * values awaited, as `for await` does; a non-object result rejects with {@linkcode badResult}).
 */
export function iteratorOf<T>(action: string, source: AnyIterable<T>): AsyncIterator<T> {
  const opened = openSource<T>(action, source);
  return opened.async ?? new SyncAdaptor(opened.sync, action);
}

/** Call `it.return()` if it exists and await it. Errors propagate. */
export async function closeIterator(it: AsyncIterator<unknown> | Iterator<unknown>): Promise<void> {
  if (typeof it.return === "function") await it.return();
}

/** Call `it.return()` if it exists, ignoring its errors (used while another error propagates). */
export async function closeQuietly(it: AsyncIterator<unknown> | Iterator<unknown>): Promise<void> {
  try {
    if (typeof it.return === "function") await it.return();
  } catch { /* an earlier error is the one that matters */ }
}

/** A waiting consumer's settle functions. */
export interface Waiter<T> {
  resolve(result: IteratorResult<T>): void;
  reject(error: unknown): void;
}

/** Make a pending promise and its waiter. */
export function waiter<T>(): [Promise<IteratorResult<T>>, Waiter<T>] {
  let w!: Waiter<T>;
  const p = new Promise<IteratorResult<T>>((resolve, reject) => {
    w = { resolve, reject };
  });
  return [p, w];
}
