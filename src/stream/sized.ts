/**
 * Sized sources: an iterable that knows how many items it will yield carries a
 * numeric `length` property. 1:1 stages (prefetch, map, progress, pool.map) keep it,
 * so a progress bar knows its total.
 *
 * @module
 */

import { assertInteger, InvalidArgumentError } from "../errors.ts";
import { isAnyIterable, iteratorOf } from "../_internal/iterate.ts";

/** An async iterable whose item count is known in advance. */
export type Sized<T> = T & { readonly length: number };

export type { AnyIterable } from "../_internal/iterate.ts";
import type { AnyIterable } from "../_internal/iterate.ts";

/**
 * The number of items a source will yield, when it says so; `undefined` otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lengthOf, withLength } from "@spool/spool";
 *
 * assert.equal(lengthOf([1, 2, 3]), 3);
 * assert.equal(lengthOf(new Set(["a"])), 1);
 * async function* gen() {
 *   yield 1;
 * }
 * assert.equal(lengthOf(gen()), undefined);
 * assert.equal(lengthOf(withLength(gen(), 1)), 1);
 * ```
 */
export function lengthOf(source: unknown): number | undefined {
  if (source === null || (typeof source !== "object" && typeof source !== "function")) {
    return undefined;
  }
  const n = (source as { length?: unknown }).length;
  if (typeof n === "number" && Number.isInteger(n) && n >= 0) return n;
  const size = (source as { size?: unknown }).size; // Set, Map
  if ((source instanceof Set || source instanceof Map) && typeof size === "number") return size;
  return undefined;
}

/**
 * Attach `length` to `iterable` when `length` is a number (the result is the same object).
 * Returns `iterable` unchanged when `length` is undefined.
 *
 * @throws {InvalidArgumentError} when `iterable` is not an (async) iterable object, `length` is
 *   not an integer >= 0, `iterable` is an array (or typed array) of another length, or the object
 *   refuses the property (frozen)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lengthOf, map, withLength } from "@spool/spool";
 *
 * async function* files() {
 *   yield "a.ndjson";
 *   yield "b.ndjson";
 * }
 * const sized = withLength(files(), 2);
 * assert.equal(lengthOf(sized), 2);
 * assert.equal(map(sized, (f) => f.toUpperCase()).length, 2); // 1:1 stages keep it
 * ```
 */
export function withLength<I extends object>(iterable: I, length: number | undefined): I {
  if (!isAnyIterable(iterable)) {
    throw new InvalidArgumentError(
      WITH_LENGTH,
      "iterable must be an iterable or async iterable object",
      { received: iterable },
    );
  }
  if (length === undefined) return iterable;
  assertInteger(WITH_LENGTH, "length", length, 0);
  if (Array.isArray(iterable) || ArrayBuffer.isView(iterable)) {
    // an array's length is its own: defining another would resize (or corrupt) it
    if ((iterable as { length: number }).length === length) return iterable;
    throw new InvalidArgumentError(
      WITH_LENGTH,
      `an array's length is its own (${(iterable as { length: number }).length}), it cannot be ` +
        "given another",
      { received: length },
    );
  }
  try {
    // configurable: a later withLength (a stage re-sized by the caller) may replace it
    Object.defineProperty(iterable, "length", {
      value: length,
      enumerable: false,
      configurable: true,
    });
  } catch (error) {
    throw new InvalidArgumentError(
      WITH_LENGTH,
      `the iterable does not accept a length property (${
        error instanceof Error ? error.message : String(error)
      })`,
      { received: iterable, cause: error },
    );
  }
  return iterable;
}

const WITH_LENGTH = "attach a length to an iterable";

/**
 * Get an async iterator from a sync or async iterable, by the stream area's one rule (see
 * `iteratorOf` in internal.ts: strings refused, iterator methods must be functions, a sync
 * iterator's promise values awaited, a non-object result rejected), failing with
 * `InvalidArgumentError` for action "iterate".
 */
export function toAsyncIterator<T>(source: AnyIterable<T>): AsyncIterator<T> {
  return iteratorOf("iterate", source);
}
