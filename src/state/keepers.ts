/**
 * Retention policies: which complete snapshots to delete.
 *
 * @module
 */

import { assertInteger, InvalidArgumentError } from "../errors.ts";
import { isRecord } from "../_internal/options.ts";
import type { SnapshotInfo } from "./snapshot_reader.ts";

/**
 * A retention policy. `select` receives the store's complete snapshots (temporary directories of
 * a save in progress are never among them), oldest first, and returns those to delete. The store
 * applies it with {@linkcode StateStore.prune} (or after every save with the `keeper` option) and
 * deletes each selected snapshot atomically (renamed out of the snapshot namespace first).
 */
export interface StatesKeeper {
  /** Choose the snapshots to delete among `snapshots` (complete, sorted by sequence). */
  select(snapshots: readonly SnapshotInfo[]): Iterable<SnapshotInfo>;
}

/** What a keeper needs of a store to clean it up: a `StateStore` is one. */
export interface PrunableStore {
  /** Remove the snapshots `keeper` selects; resolves to their paths. */
  prune(keeper: StatesKeeper): Promise<string[]>;
}

/**
 * Keep the `maxKeep` newest complete snapshots (by sequence), delete the older ones.
 * `maxKeep` 0 deletes every snapshot; a negative or non-integer value is an
 * {@linkcode InvalidArgumentError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatestStatesKeeper, StateStore, jsonState } from "@spool/spool";
 *
 * const dir = await Deno.makeTempDir();
 * await using store = new StateStore(dir, { keeper: new LatestStatesKeeper(2) });
 * store.register("counter", jsonState(0));
 * for (let i = 0; i < 5; i++) await store.save();
 * assert.ok((await store.list()).length === 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class LatestStatesKeeper implements StatesKeeper {
  /** How many of the newest snapshots are kept. */
  readonly maxKeep: number;

  /**
   * Create the keeper.
   *
   * @param maxKeep how many of the newest complete snapshots to keep (integer >= 0)
   */
  constructor(maxKeep: number) {
    this.maxKeep = assertInteger("create a LatestStatesKeeper", "maxKeep", maxKeep, 0);
  }

  /** Apply this keeper to `store` now (same as `store.prune(this)`); returns the removed paths. */
  cleanup(store: PrunableStore): Promise<string[]> {
    if (typeof (store as Partial<PrunableStore> | null)?.prune !== "function") {
      return Promise.reject(
        new InvalidArgumentError("clean up snapshots", "store must be a StateStore", {
          received: store,
        }),
      );
    }
    return store.prune(this);
  }

  /**
   * The snapshots older than the `maxKeep` newest.
   *
   * @throws {InvalidArgumentError} when `snapshots` is not an array of snapshot descriptions
   *   (objects with an integer `sequence`, as `store.list()` gives)
   */
  select(snapshots: readonly SnapshotInfo[]): SnapshotInfo[] {
    checkSnapshots("select snapshots to delete", snapshots);
    const sorted = [...snapshots].sort((a, b) => a.sequence - b.sequence);
    return sorted.slice(0, Math.max(0, sorted.length - this.maxKeep));
  }
}

/** Throw unless `snapshots` is an array of objects with an integer `sequence` (order is by it). */
function checkSnapshots(action: string, snapshots: unknown): void {
  if (!Array.isArray(snapshots)) {
    throw new InvalidArgumentError(
      action,
      "snapshots must be an array of SnapshotInfo (as store.list() gives)",
      { received: snapshots },
    );
  }
  for (let i = 0; i < snapshots.length; i++) {
    const s = snapshots[i] as Partial<SnapshotInfo> | null;
    if (!isRecord(s) || !Number.isInteger(s.sequence)) {
      throw new InvalidArgumentError(
        action,
        `snapshots[${i}] must be a SnapshotInfo with an integer sequence`,
        { received: s },
      );
    }
  }
}
