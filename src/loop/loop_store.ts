/**
 * The store a `StatefulLoop` checkpoints into, and who owns it: a directory is opened (locked,
 * pruned to `keep`) and later closed by the loop; a `StateStore` the caller passes stays the
 * caller's (the loop prunes it only when `keep` is given, and never closes it).
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import {
  LatestStatesKeeper,
  StateMismatchError,
  type StatesKeeper,
  StateStore,
} from "../state/mod.ts";
import { loopErrorOf } from "./checkpoint_file.ts";
import { LoopCheckpointError } from "./errors.ts";
import { checkOpenOptions } from "./loop_options.ts";

/** The opened store of a loop. */
export interface LoopStore {
  /** The store. */
  store: StateStore;
  /** The directory, or the given store's `dir`. */
  path: string;
  /** Whether the loop opened the store (and closes it). */
  own: boolean;
  /** Retention the loop applies after its checkpoints (a given store with `keep`). */
  prune: StatesKeeper | undefined;
}

/**
 * Check `where` and `options` and open the loop's store (see the module documentation).
 *
 * @throws {InvalidArgumentError} for a bad path or option, or a read-only store
 */
export async function openLoopStore(
  action: string,
  where: unknown,
  options: unknown,
): Promise<LoopStore> {
  const given = where instanceof StateStore;
  const { keep, keepGiven } = checkOpenOptions(action, where, options, given);
  if (!given) {
    const path = where as string;
    const store = await StateStore.open(path, { keeper: new LatestStatesKeeper(keep) });
    return { store, path, own: true, prune: undefined };
  }
  if (where.readOnly) {
    throw new InvalidArgumentError(action, "the store is read-only (the loop saves checkpoints)", {
      received: where.dir,
    });
  }
  const prune = keepGiven ? new LatestStatesKeeper(keep) : undefined;
  return { store: where, path: where.dir, own: false, prune };
}

/** The error `open` reports for `error` of the first load (the loop's own errors unwrapped). */
export function openErrorOf(action: string, error: unknown, path: string): unknown {
  const own = loopErrorOf(error);
  if (own !== error) return own;
  if (error instanceof StateMismatchError) {
    return new LoopCheckpointError(
      action,
      "the store holds snapshots that are not a StatefulLoop's",
      { received: path, cause: error },
    );
  }
  return error;
}
