/**
 * The shape of the Rust addon (`native/src`), as napi-rs exports it.
 *
 * @module
 */

import type { NumericArray } from "../_internal/typed_arrays.ts";

/** Typed-array constructor names a FrameBuffer column may have. */
export type ColumnKind =
  | "Int8Array"
  | "Uint8Array"
  | "Uint8ClampedArray"
  | "Int16Array"
  | "Uint16Array"
  | "Int32Array"
  | "Uint32Array"
  | "Float32Array"
  | "Float64Array"
  | "BigInt64Array"
  | "BigUint64Array";

/** The addon's FrameBuffer class (`native/src/frame_buffer.rs`). */
export interface NativeFrameBufferInstance {
  append(chunk: NumericArray[]): void;
  append1(column: NumericArray): void;
  reserve(rows: number): void;
  take(): NumericArray[];
  close(): void;
  readonly rows: number;
  readonly byteLength: number;
  readonly closed: boolean;
}

/** A queue's counters (`RingStats` in `native/src/ring_queue.rs`). */
export interface NativeRingStats {
  /** Messages queued. */
  messages: number;
  /** Bytes queued. */
  bytes: number;
  /** Whether the queue is closed. */
  closed: boolean;
}

/** Message buffers kept for reuse by pushes (`RecycledBuffers` in `ring_queue.rs`). */
export interface NativeRecycledBuffers {
  /** Buffers kept. */
  buffers: number;
  /** Their capacity in bytes. */
  bytes: number;
}

/** The page pool FrameBuffer columns reuse (`PagePoolStats` in `frame_buffer.rs`). */
export interface NativePagePoolStats {
  /** Mappings kept (0 off Linux). */
  mappings: number;
  /** Their size in bytes (0 off Linux). */
  bytes: number;
}

/** The addon's exports. */
export interface NativeBinding {
  version(): string;
  NativeFrameBuffer: new (names: string[], kinds: string[]) => NativeFrameBufferInstance;
  framePoolStats(): NativePagePoolStats;
  ringCreate(capacity: number): number;
  ringPush(id: number, data: Uint8Array, timeoutMs?: number): boolean;
  ringTryPush(id: number, data: Uint8Array): boolean;
  /** A message, null at the end, false on timeout. */
  ringPop(id: number, timeoutMs?: number): Uint8Array | null | false;
  /** Up to `max` messages (none yet: empty), null at the end. */
  ringPopMany(id: number, max: number): Uint8Array[] | null;
  ringPopManyCopied(id: number, max: number): Uint8Array[] | null;
  ringRecycled(): NativeRecycledBuffers;
  ringWait(id: number, callback: (queued: number) => void): boolean;
  ringClose(id: number, discard?: boolean): void;
  ringFail(id: number, message: string): void;
  ringRelease(id: number): void;
  ringCount(): number;
  ringStats(id: number): NativeRingStats;
  ringAttachProducer(id: number): void;
}

/**
 * The crate version this TypeScript code expects (`native/Cargo.toml`): bumped whenever the
 * addon's exports change shape, so that a stale library is refused, not misread.
 */
export const EXPECTED_VERSION = "0.2.0";
