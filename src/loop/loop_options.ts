/**
 * The options of `StatefulLoop.open`, `iterate`/`items` and `buffer`, and their checks.
 *
 * @module
 */

import { assertInteger, assertNumber, InvalidArgumentError } from "../errors.ts";
import {
  isRecord,
  optionalBoolean,
  optionalFunction,
  optionsOf,
  unknownKeys,
  unknownKeysReason,
} from "../_internal/options.ts";
import type { FrameAdapter } from "../frame/adapter.ts";
import type { CheckpointTriggers } from "./loop_iteration.ts";

/** When the loop writes checkpoints. Every trigger is evaluated when an item completes. */
export interface CheckpointOptions {
  /** Save after every `everyItems` completed items; `false` (default) disables. */
  everyItems?: number | false;
  /** Save when at least `everyMs` ms passed since the last save (default 5000); `false` disables. */
  everyMs?: number | false;
  /** Save after an item during which some buffer site flushed (default `true`). */
  afterFlush?: boolean;
  /** Save when the source is exhausted and the final pass is done (default `true`). */
  atEnd?: boolean;
}

/** Options of {@linkcode StatefulLoop.open}. */
export interface StatefulLoopOptions {
  /** Default memory limit of a buffer site, in MiB (2^20 bytes); default 300. 0 flushes every call. */
  memoryLimitMb?: number;
  /** Checkpoint triggers (see {@linkcode CheckpointOptions}). */
  checkpoint?: CheckpointOptions;
  /**
   * How many complete snapshots to keep in the store (minimum 1). A store the loop opens (a
   * directory) keeps 2 by default. A `StateStore` you pass keeps its own `keeper`; with `keep`
   * given, the loop also prunes it to the `keep` newest after each of its checkpoints.
   */
  keep?: number;
  /** Adapters of non-`Frame` frame types a checkpoint may hold (e.g. `arrowAdapter(arrow)`). */
  adapters?: readonly FrameAdapter<unknown>[];
  /** When the newest snapshot is corrupt, load the previous one instead of throwing (default `false`). */
  fallback?: boolean;
  /** Clock in ms for `everyMs` (default `performance.now`); inject one in tests. */
  clock?: () => number;
}

/** Options of {@linkcode StatefulLoop.iterate}. */
export interface IterateOptions {
  /**
   * `true` (default): the source is replayable from its start; the items a checkpoint counts as
   * completed are pulled and dropped. `false`: the source already starts at `loop.position`.
   */
  skipCompleted?: boolean;
  /**
   * Stop between two items: the loop checkpoints what completed, then the generator throws
   * `AbortedError`.
   */
  signal?: AbortSignal;
}

/** Options of {@linkcode StatefulLoop.buffer}. */
export interface BufferOptions<F> {
  /** This site's memory limit in MiB (default: the loop's `memoryLimitMb`). */
  memoryLimitMb?: number;
  /** How to measure/concatenate/persist the frames (default {@linkcode frameAdapter}). */
  adapter?: FrameAdapter<F>;
}

const LOOP_OPTIONS = ["memoryLimitMb", "checkpoint", "keep", "adapters", "fallback", "clock"];
const CHECKPOINT_OPTIONS = ["everyItems", "everyMs", "afterFlush", "atEnd"];
/** The option names of `iterate` and `items`. */
export const ITERATE_OPTIONS = ["skipCompleted", "signal"];
const BUFFER_OPTIONS = ["memoryLimitMb", "adapter"];
/** The default options of `buffer()`: known valid, so the per-call check is skipped. */
export const NO_OPTIONS: BufferOptions<unknown> = Object.freeze({});

/** Throw unless `a` is a frame adapter (a name, `byteSize` and `concat`). */
function assertAdapter(action: string, what: string, a: unknown): void {
  const x = a as Partial<FrameAdapter<unknown>> | null;
  if (
    x === null || typeof x !== "object" || typeof x.name !== "string" || x.name === "" ||
    typeof x.byteSize !== "function" || typeof x.concat !== "function"
  ) {
    throw new InvalidArgumentError(action, `${what} must have name, byteSize and concat`, {
      received: a,
    });
  }
}

function checkCheckpointOptions(action: string, cp: unknown): void {
  if (!isRecord(cp)) {
    throw new InvalidArgumentError(action, "checkpoint must be an object", { received: cp });
  }
  const unknownCp = unknownKeys(cp, CHECKPOINT_OPTIONS);
  if (unknownCp.length > 0) {
    throw new InvalidArgumentError(
      action,
      unknownKeysReason(unknownCp.map((k) => `checkpoint.${k}`), CHECKPOINT_OPTIONS),
      { received: cp },
    );
  }
  if (cp.everyItems !== undefined && cp.everyItems !== false) {
    assertInteger(action, "checkpoint.everyItems", cp.everyItems, 1);
  }
  if (cp.everyMs !== undefined && cp.everyMs !== false) {
    assertNumber(action, "checkpoint.everyMs", cp.everyMs, 0);
  }
  optionalBoolean(action, "checkpoint.afterFlush", cp.afterFlush);
  optionalBoolean(action, "checkpoint.atEnd", cp.atEnd);
}

/** What `StatefulLoop.open` keeps of its checked options. */
export interface OpenSettings {
  /** How many snapshots to keep (2 when not given). */
  keep: number;
  /** Whether `keep` was given (a store the caller opened is pruned only then). */
  keepGiven: boolean;
}

/**
 * Check the path (unless `path` is a store, checked by the caller) and options of
 * `StatefulLoop.open`.
 *
 * @throws {InvalidArgumentError} for an empty path, a bad or unknown option
 */
export function checkOpenOptions(
  action: string,
  path: unknown,
  options: unknown,
  isStore = false,
): OpenSettings {
  if (!isStore && (typeof path !== "string" || path === "")) {
    throw new InvalidArgumentError(action, "path must be a non-empty string or a StateStore", {
      received: path,
    });
  }
  const o = optionsOf(action, options, LOOP_OPTIONS);
  if (o.memoryLimitMb !== undefined) {
    assertNumber(action, "memoryLimitMb", o.memoryLimitMb, 0);
  }
  checkCheckpointOptions(action, o.checkpoint ?? {});
  optionalBoolean(action, "fallback", o.fallback);
  optionalFunction(action, "clock", o.clock);
  const keep = assertInteger(action, "keep", o.keep ?? 2, 1);
  if (o.adapters !== undefined && !Array.isArray(o.adapters)) {
    throw new InvalidArgumentError(
      action,
      "adapters must be an array of frame adapters",
      { received: o.adapters },
    );
  }
  for (const a of (o.adapters ?? []) as unknown[]) assertAdapter(action, "adapters", a);
  return { keep, keepGiven: o.keep !== undefined };
}

/** The checkpoint triggers of checked `options`, defaults filled in. */
export function triggersOf(options: StatefulLoopOptions): CheckpointTriggers {
  const cp = options.checkpoint ?? {};
  return {
    everyItems: cp.everyItems ?? false,
    everyMs: cp.everyMs ?? 5000,
    afterFlush: cp.afterFlush ?? true,
    atEnd: cp.atEnd ?? true,
    clock: options.clock ?? (() => performance.now()),
    injectedClock: options.clock !== undefined,
  };
}

/** Check the options of one `buffer()` call (skipped for {@linkcode NO_OPTIONS}). */
export function checkBufferOptions(action: string, options: BufferOptions<unknown>): void {
  if (options === NO_OPTIONS) return;
  optionsOf(action, options, BUFFER_OPTIONS);
  if (options.adapter !== undefined) assertAdapter(action, "adapter", options.adapter);
}
