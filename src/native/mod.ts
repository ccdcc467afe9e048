/**
 * native: the Rust napi-rs hot path (`FrameBuffer`, `RingQueue`) with its pure-TypeScript
 * fallbacks, and the loader that picks one.
 *
 * @module
 */

export {
  activeImplementation,
  type Implementation,
  type NativeStatus,
  nativeStatus,
} from "./load.ts";
export { NativeLoadError, ProducerError } from "./errors.ts";
export {
  createFrameBuffer,
  type FrameBuffer,
  type FrameBufferImplementation,
  type FrameBufferOptions,
} from "./frame_buffer.ts";
export {
  type ColumnKind,
  type ColumnsOf,
  type FrameSchema,
  type KindToArray,
  type NumericArray,
} from "./frame_schema.ts";
export { NativeFrameBuffer } from "./native_frame_buffer.ts";
export { TsFrameBuffer } from "./ts_frame_buffer.ts";
export { type RingMessage, RingQueue, type RingWaitOptions } from "./ring_queue.ts";
export { workerPrefetch, type WorkerPrefetchOptions } from "./worker_prefetch.ts";
