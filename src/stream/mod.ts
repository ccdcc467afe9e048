/**
 * stream: public exports of this area (re-exported by the root mod.ts).
 *
 * @module
 */

export { prefetch, type PrefetchOptions } from "./prefetch.ts";
export { batch, type BatchOptions } from "./batch.ts";
export { type Channel, channel, type ChannelOptions } from "./channel.ts";
export { filter, map, type MapFn, type MapOptions } from "./map.ts";
export { tee, type TeeOptions } from "./tee.ts";
export { merge, type MergeOptions, zip, type ZipItems } from "./merge.ts";
export { lines, type LinesOptions } from "./lines.ts";
export {
  ndjson,
  type NdjsonOptions,
  toNdjson,
  writeNdjson,
  type WriteNdjsonOptions,
} from "./ndjson.ts";
export {
  fromReadable,
  type FromReadableOptions,
  toReadable,
  type ToReadableOptions,
} from "./readable.ts";
export { progress, type ProgressOptions } from "./progress.ts";
export { FileAccessError, NdjsonParseError } from "./errors.ts";
export { withLength } from "./sized.ts";
export type { Stage } from "./types.ts";
