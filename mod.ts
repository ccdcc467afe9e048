/**
 * spool: ordered, batched, parallel and resumable data processing for Deno.
 *
 * - Stream utilities: `prefetch`, `batch`, `channel`, `tee`, `merge`, `zip`, `map`, `filter`,
 *   `lines`, `progress`, ...
 * - A crash-safe state store: `StateStore`, save conditions, keepers, codecs.
 * - Frames: columnar batches with exact byte accounting.
 * - A stateful loop that checkpoints and resumes exactly.
 * - A stateful worker pool with lazy bounded `map`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { batch, map, prefetch } from "@spool/spool";
 *
 * async function* readings() {
 *   for (let i = 0; i < 10; i++) yield i;
 * }
 * const sizes: number[] = [];
 * const doubled = map(prefetch(readings(), { size: 4 }), async (x) => 2 * x, { concurrency: 4 });
 * for await (const b of batch(doubled, { size: 4 })) sizes.push(b.length);
 * assert.ok(sizes.join() === "4,4,2");
 * ```
 *
 * @module
 */

export {
  AbortedError,
  ClosedError,
  InternalError,
  InvalidArgumentError,
  SpoolError,
  type SpoolErrorOptions,
  TimeoutError,
} from "./src/errors.ts";
export type { AnyIterable, Sized } from "./src/stream/sized.ts";
export { lengthOf } from "./src/stream/sized.ts";
// Shared by several areas, so they live in the internal layer; the root exports them.
export { byteSizeOf } from "./src/_internal/bytes.ts";
export type { NumericArray } from "./src/_internal/typed_arrays.ts";
export * from "./src/stream/mod.ts";
// Explicit re-export: wins over a same-named type exported by another area.
export type { MapOptions } from "./src/stream/mod.ts";
export * from "./src/state/mod.ts";
export * from "./src/frame/mod.ts";
export * from "./src/loop/mod.ts";
export * from "./src/pool/mod.ts";
export * from "./src/native/mod.ts";
export * from "./src/pipeline/mod.ts";
export * from "./src/nats/mod.ts";
