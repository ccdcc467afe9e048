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
  type ColumnKind,
  type ColumnsOf,
  createFrameBuffer,
  type FrameBuffer,
  type FrameBufferImplementation,
  type FrameBufferOptions,
  type FrameSchema,
  type KindToArray,
  NativeFrameBuffer,
  type NumericArray,
  TsFrameBuffer,
} from "./frame_buffer.ts";
export { type RingMessage, RingQueue, type RingWaitOptions } from "./ring_queue.ts";
export { workerPrefetch, type WorkerPrefetchOptions } from "./worker_prefetch.ts";
