/**
 * stream: public exports of this area (re-exported by the root mod.ts).
 *
 * @module
 */

export { prefetch, type PrefetchOptions } from "./prefetch.ts";
export { batch, type BatchOptions } from "./batch.ts";
export { filter, map, type MapFn, type MapOptions } from "./map.ts";
export { withLength } from "./sized.ts";
