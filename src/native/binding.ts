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

/** The addon's FrameBuffer class. */
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

/** The addon's exports. */
export interface NativeBinding {
  version(): string;
  NativeFrameBuffer: new (names: string[], kinds: string[]) => NativeFrameBufferInstance;
  framePoolStats(): [number, number];
  ringCreate(capacity: number): number;
  ringPush(id: number, data: Uint8Array, timeoutMs?: number): boolean;
  ringTryPush(id: number, data: Uint8Array): boolean;
  ringPop(id: number, timeoutMs?: number): Uint8Array | null | false;
  ringPopMany(id: number, max: number): Uint8Array[] | null;
  ringPopManyCopied(id: number, max: number): Uint8Array[] | null;
  ringRecycled(): [number, number];
  ringWait(id: number, callback: (queued: number) => void): boolean;
  ringClose(id: number, discard?: boolean): void;
  ringFail(id: number, message: string): void;
  ringRelease(id: number): void;
  ringCount(): number;
  ringStats(id: number): [number, number, number];
  ringAttachProducer(id: number): void;
}

/** The crate version this TypeScript code expects (native/Cargo.toml). */
export const EXPECTED_VERSION = "0.1.0";
