/**
 * The options of `pool.map` ({@linkcode PoolMapOptions}) and their validation into the settings
 * one map runs with ({@linkcode MapSettings}).
 *
 * @module
 */

import { assertInteger, assertNumber, InvalidArgumentError } from "../errors.ts";
import { optionalBoolean, optionalFunction, optionsOf } from "../_internal/options.ts";

/** Error policy of a map. */
export type ErrorPolicy = "throw" | "throw-after-drain" | "collect";

/** Options of {@linkcode WorkerPool.map} (`I`: the type of the source's items). */
export interface PoolMapOptions<I = unknown> {
  /**
   * Inputs read from the source and not yet handed to the consumer (queued, running, or done
   * and waiting): bounds memory per map. Default: `4 * size * depth` with `chunkSize` 1,
   * `4 * size * depth * chunkSize` with a numeric chunk size, 8192 with `"auto"`; at most 2 ** 24.
   */
  maxInFlight?: number;
  /** Results in input order (default `true`) or in completion order. */
  ordered?: boolean;
  /** Error policy (default `"throw"`). */
  errors?: ErrorPolicy;
  /** Call `process(state, ...item)` instead of `process(state, item)`. */
  spread?: boolean;
  /** Inputs per message to a worker, or `"auto"` (about 1 ms of work per chunk). Default 1. */
  chunkSize?: number | "auto";
  /** Move ArrayBuffers (found in inputs/results, or listed by the function) instead of copying. */
  transfer?: boolean | ((input: unknown) => Transferable[]);
  /** Per-input time limit: a worker running past it is terminated and replaced. */
  timeoutMs?: number;
  /** Cancels the map. */
  signal?: AbortSignal;
  /**
   * Items for which this returns true are not sent to a worker: they come out of the map
   * unchanged at their place, as if a worker had returned them (with `errors: "collect"`, as
   * `{ ok: true, passed: true, value: item, input: item, index }`). With `ordered: false` such an
   * item is a fence: every result of an earlier input comes out before it, every later one
   * after it (nothing after it is read until it is out). A chunk ends before it. It counts in
   * `maxInFlight` until it is taken. An error it throws fails the map like a source error.
   */
  passThrough?(item: I): boolean;
  /**
   * A name for this map's work that survives the caller's process (NATS pools only): derive it
   * from the caller's checkpoint position (`batch-${position}`), so that a coordinator restarted
   * after a crash runs the same map again under the same key and finds the tasks and results
   * the dead one left (see `NatsPool.map`). A non-empty string; one live map per key on a pool.
   * Thread and process pools check it and ignore it (their maps do not outlive their process).
   */
  key?: string;
}

/** The settings one map runs with (its options validated, defaults filled in). */
export interface MapSettings {
  maxInFlight: number;
  ordered: boolean;
  errors: ErrorPolicy;
  spread: boolean;
  chunkSize: number | "auto";
  transfer: boolean | ((input: unknown) => Transferable[]);
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** Inputs that skip the workers (see `PoolMapOptions.passThrough`). */
  passThrough: ((item: unknown) => boolean) | undefined;
  /** The map's key (`PoolMapOptions.key`; ignored by thread and process pools). */
  key: string | undefined;
}

/** The largest `maxInFlight`: 16,777,216 inputs (a larger window fails arrays sized by it). */
const MAX_IN_FLIGHT = 2 ** 24;

const MAP_KEYS = [
  "maxInFlight",
  "ordered",
  "errors",
  "spread",
  "chunkSize",
  "transfer",
  "timeoutMs",
  "signal",
  "passThrough",
  "key",
] as const;

/**
 * Validate a map's options. `size` and `depth` are the pool's (the default window depends on
 * them).
 */
export function mapSettingsOf(
  action: string,
  options: PoolMapOptions,
  size: number,
  depth: number,
): MapSettings {
  optionsOf(action, options, MAP_KEYS);
  const ordered = optionalBoolean(action, "ordered", options.ordered) ?? true;
  const spread = optionalBoolean(action, "spread", options.spread) ?? false;
  const chunkSize = options.chunkSize ?? 1;
  if (chunkSize !== "auto") assertInteger(action, "chunkSize", chunkSize, 1);
  const errors = options.errors ?? "throw";
  if (errors !== "throw" && errors !== "throw-after-drain" && errors !== "collect") {
    throw new InvalidArgumentError(
      action,
      'errors must be "throw", "throw-after-drain" or "collect"',
      { received: errors },
    );
  }
  const transfer = options.transfer ?? false;
  if (typeof transfer !== "boolean" && typeof transfer !== "function") {
    throw new InvalidArgumentError(action, "transfer must be a boolean or a function", {
      received: transfer,
    });
  }
  const defaultWindow = chunkSize === "auto"
    ? 8192
    : chunkSize === 1
    ? 4 * size * depth
    : 4 * size * depth * chunkSize;
  const maxInFlight = assertInteger(
    action,
    "maxInFlight",
    options.maxInFlight ?? defaultWindow,
    1,
    MAX_IN_FLIGHT,
  );
  const timeoutMs = options.timeoutMs === undefined
    ? 0
    : assertNumber(action, "timeoutMs", options.timeoutMs, 1);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(action, "signal must be an AbortSignal", {
      received: options.signal,
    });
  }
  const passThrough = optionalFunction<(item: unknown) => boolean>(
    action,
    "passThrough",
    options.passThrough,
  );
  const key = options.key;
  if (key !== undefined && (typeof key !== "string" || key === "")) {
    throw new InvalidArgumentError(action, "key must be a non-empty string", { received: key });
  }
  return {
    key,
    maxInFlight,
    ordered,
    errors,
    spread,
    chunkSize,
    transfer,
    timeoutMs,
    signal: options.signal,
    passThrough,
  };
}
