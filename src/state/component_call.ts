/**
 * Which store's component callback (`saveState`/`loadState`) the current async context runs in:
 * the store's re-entrancy guard. A component calling save/load/prune/verify/close of its own
 * store from such a callback would wait for itself.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";

const inCallback = new AsyncLocalStorage<object>();

/** Run `fn` (a component's `saveState` or `loadState`) marked as a callback of `store`. */
export function callComponent<T>(store: object, fn: () => T): T {
  return inCallback.run(store, fn);
}

/** `true` when the current async context runs inside a component callback of `store`. */
export function isInComponentCall(store: object): boolean {
  return inCallback.getStore() === store;
}
