/**
 * frame: columnar batches with exact byte accounting, concatenation, adapters for other frame
 * types (Apache Arrow) and a checkpoint codec. Re-exported by the root mod.ts.
 *
 * @module
 */

export { FrameError, type FrameErrorOptions } from "./errors.ts";
export {
  byteSize,
  type Column,
  columnKind,
  type Columns,
  concat,
  Frame,
  type FrameColumnKind,
  type NumericColumn,
  plainColumnBytes,
} from "./frame.ts";
export {
  arrowAdapter,
  type ArrowModuleLike,
  type ArrowTableLike,
  type FrameAdapter,
  frameAdapter,
} from "./adapter.ts";
export { type FrameReader, type FrameWriter, readFrame, writeFrame } from "./codec.ts";
