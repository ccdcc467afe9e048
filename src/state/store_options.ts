/**
 * The options of {@linkcode StateStore}, of its `save` and of its `load`, and their checks: an
 * unknown key or a wrong type is an `InvalidArgumentError` naming it, before anything is done.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import {
  optionalBoolean,
  optionalFunction,
  optionalOneOf,
  optionalSignal,
  optionsOf,
} from "../_internal/options.ts";
import type { ChecksumAlgorithm } from "./checksum.ts";
import type { LockHolder, SnapshotCorruptError } from "./errors.ts";
import { toExactJson } from "./json.ts";
import type { StatesKeeper } from "./keepers.ts";
import type { ReadOptions } from "./snapshot_reader.ts";

/** Options of {@linkcode StateStore}. */
export interface StateStoreOptions {
  /**
   * Take the store's single-writer lock (default `true`). Without it, nothing stops another
   * writer and leftover temporary directories are not cleaned; use `readOnly` to inspect or
   * load from a store another process writes to.
   */
  lock?: boolean;
  /** Open for `list`/`load`/`verify` only: no lock, `save` and `prune` throw. Default `false`. */
  readOnly?: boolean;
  /** Checksum algorithm of new snapshots (default `"crc32"`). Loading accepts either. */
  checksum?: ChecksumAlgorithm;
  /** Retention policy applied after every successful save. */
  keeper?: StatesKeeper;
  /** Called when the lock was taken over from a writer that died without closing. */
  onStaleLock?: (holder: LockHolder) => void;
  /**
   * Wall clock (ms since the epoch) for `createdAt`, default `Date.now`. Only informational:
   * names and `latest` depend on sequence numbers, never on time.
   */
  clock?: () => number;
}

/** Options of {@linkcode StateStore.save}. */
export interface SaveOptions {
  /**
   * JSON metadata stored in the manifest and reported by `list()` (e.g. a loop position). A value
   * JSON would change or drop (NaN, a function, a Date, ...) is an `InvalidArgumentError` naming
   * its path (`meta.position.byFile[0] is NaN`); nothing is saved.
   */
  meta?: unknown;
  /**
   * Cancel the save: checked before each component and before the final rename; an aborted
   * save leaves no snapshot and rejects with `AbortedError`.
   */
  signal?: AbortSignal;
}

/** Options of {@linkcode StateStore.load}. */
export interface LoadOptions {
  /**
   * With `"latest"`: when the newest snapshot is corrupt, report it through `onCorrupt` and try
   * the next older one instead of throwing. Default `false` (a corrupt newest snapshot throws
   * {@linkcode SnapshotCorruptError}).
   */
  fallback?: boolean;
  /** Receives each corrupt snapshot skipped by `fallback`. */
  onCorrupt?: (error: SnapshotCorruptError) => void;
  /**
   * Load even when a registered component is absent from the snapshot (its `loadState` is not
   * called). Default `false`: {@linkcode StateMismatchError} before anything is loaded.
   */
  allowMissing?: boolean;
  /** Cancel the load: checked between files and before the first `loadState` (then too late). */
  signal?: AbortSignal;
}

const STORE_OPTIONS = ["lock", "readOnly", "checksum", "keeper", "onStaleLock", "clock"] as const;
const SAVE_OPTIONS = ["meta", "signal"] as const;
const LOAD_OPTIONS = ["fallback", "onCorrupt", "allowMissing", "signal"] as const;
const CHECKSUMS: readonly ChecksumAlgorithm[] = ["crc32", "sha256"];

/** The checked options of a store (defaults applied). */
export interface CheckedStoreOptions {
  lock: boolean;
  readOnly: boolean;
  checksum: ChecksumAlgorithm;
  keeper: StatesKeeper | undefined;
  onStaleLock: ((holder: LockHolder) => void) | undefined;
  clock: () => number;
}

/** Check the options of the store's constructor and apply the defaults. */
export function storeOptionsOf(action: string, options: unknown): CheckedStoreOptions {
  const o = optionsOf(action, options, STORE_OPTIONS);
  const lock = optionalBoolean(action, "lock", o.lock) ?? true;
  const readOnly = optionalBoolean(action, "readOnly", o.readOnly) ?? false;
  const checksum = optionalOneOf(action, "checksum", o.checksum, CHECKSUMS) ?? "crc32";
  const keeper = o.keeper as StatesKeeper | undefined;
  if (keeper !== undefined && typeof keeper?.select !== "function") {
    throw new InvalidArgumentError(action, "keeper must have a select() method", {
      received: keeper,
    });
  }
  const onStaleLock = optionalFunction<(holder: LockHolder) => void>(
    action,
    "onStaleLock",
    o.onStaleLock,
  );
  const clock = optionalFunction<() => number>(action, "clock", o.clock);
  return { lock, readOnly, checksum, keeper, onStaleLock, clock: clock ?? Date.now };
}

/** The checked options of a save: the metadata as JSON text (checked and copied now). */
export interface CheckedSaveOptions {
  metaText: string | undefined;
  signal: AbortSignal | undefined;
}

/** Check the options of `save`; a `meta` JSON would change is refused, never altered. */
export function saveOptionsOf(action: string, options: unknown): CheckedSaveOptions {
  const o = optionsOf(action, options, SAVE_OPTIONS);
  const signal = optionalSignal(action, "signal", o.signal);
  // Checked (and copied) now: a value JSON would change is refused, never altered.
  const metaText = o.meta !== undefined ? toExactJson(action, o.meta, "meta") : undefined;
  return { metaText, signal };
}

/** Check the options of `load`. */
export function loadOptionsOf(action: string, options: unknown): ReadOptions {
  const o = optionsOf(action, options, LOAD_OPTIONS);
  return {
    fallback: optionalBoolean(action, "fallback", o.fallback),
    onCorrupt: optionalFunction<(error: SnapshotCorruptError) => void>(
      action,
      "onCorrupt",
      o.onCorrupt,
    ),
    allowMissing: optionalBoolean(action, "allowMissing", o.allowMissing),
    signal: optionalSignal(action, "signal", o.signal),
  };
}
