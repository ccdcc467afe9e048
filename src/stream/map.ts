/**
 * `map` and `filter` with optional concurrency, ordered (streaming reorder) or unordered: their
 * options, the checks of their arguments, and the choice of implementation. The implementations
 * live beside: `serial_map.ts` (concurrency 1, no signal: the fast path), `concurrent_map.ts`
 * (everything else) and `filtered.ts` (`filter` as a `map` that drops skipped items).
 *
 * @module
 */

import type { MapFn, Stage } from "./types.ts";
import { assertInteger, InvalidArgumentError } from "../errors.ts";
import { checkOptions, optionalBoolean } from "../_internal/options.ts";
import { checkSignal } from "../_internal/abort.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { SerialMap } from "./serial_map.ts";
import { ConcurrentMap } from "./concurrent_map.ts";
import { Filtered, keepOrSkip } from "./filtered.ts";

export type { MapFn } from "./types.ts";

/** Options of {@linkcode map} and {@linkcode filter}. */
export interface MapOptions {
  /** How many calls may run at once (integer >= 1, default 1). */
  concurrency?: number;
  /** Deliver results in source order (default `true`) or as they complete (`false`). */
  ordered?: boolean;
  /** Aborting it stops the stage: `AbortedError` at the consumer, the source is returned. */
  signal?: AbortSignal;
}

/** The checked options of a `map` or `filter` call. */
interface MapSettings {
  concurrency: number;
  ordered: boolean;
  signal: AbortSignal | undefined;
}

function checkMap(action: string, fn: unknown, options: unknown): MapSettings {
  if (typeof fn !== "function") {
    throw new InvalidArgumentError(action, "the function must be a function", { received: fn });
  }
  const o = checkOptions<MapOptions>(action, options, ["concurrency", "ordered", "signal"]);
  const concurrency = o.concurrency === undefined
    ? 1
    : assertInteger(action, "concurrency", o.concurrency, 1);
  const ordered = optionalBoolean(action, "ordered", o.ordered) ?? true;
  const signal = checkSignal(action, o.signal);
  return { concurrency, ordered, signal };
}

/**
 * The implementation for `settings`: the serial fast path at concurrency 1 without a signal (the
 * order option changes nothing there), the concurrent stage otherwise.
 */
function mapStage<T, R>(
  action: string,
  source: AnyIterable<T>,
  fn: MapFn<T, R>,
  { concurrency, ordered, signal }: MapSettings,
): Stage<R> {
  return concurrency === 1 && signal === undefined
    ? new SerialMap(action, source, fn)
    : new ConcurrentMap(action, source, fn, concurrency, ordered, signal);
}

/**
 * Apply `fn` to every item of `source`, with up to `concurrency` calls running at once.
 *
 * Ordered (the default) delivers results in source order with a streaming reorder buffer of
 * at most `2 × concurrency` results (no batch barrier: a slow item only holds back the ones
 * after it, within that window); unordered delivers them as they complete. When a call throws,
 * the results before it (ordered: in position; unordered: completed before it) are delivered,
 * then the error is thrown, after the calls already running have settled. When the consumer
 * stops early, the signal given to `fn` is aborted, the source is returned and `return()`
 * waits for the calls in flight to settle: nothing keeps running. A sized source keeps its
 * `length`.
 *
 * @param source any sync or async iterable
 * @param fn `(value, index, signal) => result | Promise<result>`
 * @param options `concurrency` (default 1), `ordered` (default true), `signal`
 * @returns an async iterable iterator of results
 * @throws {InvalidArgumentError} for a bad function, concurrency or signal
 *
 * @example
 * ```ts
 * import { map } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const out: number[] = [];
 * const squares = map([1, 2, 3, 4], async (x) => x * x, { concurrency: 2 });
 * assert.equal(squares.length, 4);
 * for await (const y of squares) out.push(y);
 * assert.equal(out.join(), "1,4,9,16");
 * ```
 */
export function map<T, R>(
  source: AnyIterable<T>,
  fn: MapFn<T, R>,
  options?: MapOptions,
): Stage<R> {
  const action = "map a source";
  const stage = mapStage(action, source, fn, checkMap(action, fn, options));
  return withLength(stage, lengthOf(source));
}

/**
 * Keep the items of `source` for which `predicate` returns (or resolves to) a truthy value,
 * with the same concurrency, ordering, error and early-stop rules as {@linkcode map}.
 *
 * @param source any sync or async iterable
 * @param predicate `(value, index, signal) => boolean | Promise<boolean>`
 * @param options `concurrency` (default 1), `ordered` (default true), `signal`
 * @returns an async iterable iterator of the kept items
 * @throws {InvalidArgumentError} for a bad predicate, concurrency or signal
 *
 * @example
 * ```ts
 * import { filter } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const even: number[] = [];
 * for await (const x of filter([1, 2, 3, 4], (x) => x % 2 === 0)) even.push(x);
 * assert.equal(even.join(), "2,4");
 * ```
 */
export function filter<T>(
  source: AnyIterable<T>,
  predicate: MapFn<T, unknown>,
  options?: MapOptions,
): Stage<T> {
  const action = "filter a source";
  const settings = checkMap(action, predicate, options);
  return new Filtered(mapStage(action, source, keepOrSkip(predicate), settings));
}
