/**
 * Typed-array kinds ("dtypes") as recorded in snapshot manifests.
 *
 * @module
 */

/**
 * Every numeric typed array spool can store as raw binary. One definition for the whole library
 * (the native FrameBuffer's), re-exported so that the root module exports a single symbol.
 */
import { InvalidArgumentError } from "../errors.ts";
import type { NumericArray } from "../_internal/typed_arrays.ts";

/** Names of the dtypes recorded in the manifest. */
export type DType =
  | "int8"
  | "uint8"
  | "uint8clamped"
  | "int16"
  | "uint16"
  | "int32"
  | "uint32"
  | "float16"
  | "float32"
  | "float64"
  | "bigint64"
  | "biguint64";

/** A numeric typed-array constructor. */
type Ctor = {
  // deno-lint-ignore no-explicit-any
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): any;
  // deno-lint-ignore no-explicit-any
  new (length: number): any;
  readonly BYTES_PER_ELEMENT: number;
};

const f16 = (globalThis as { Float16Array?: Ctor }).Float16Array;

const CTORS: [DType, Ctor, number][] = [
  ["int8", Int8Array, 1],
  ["uint8", Uint8Array, 1],
  ["uint8clamped", Uint8ClampedArray, 1],
  ["int16", Int16Array, 2],
  ["uint16", Uint16Array, 2],
  ["int32", Int32Array, 4],
  ["uint32", Uint32Array, 4],
  ["float32", Float32Array, 4],
  ["float64", Float64Array, 8],
  ["bigint64", BigInt64Array, 8],
  ["biguint64", BigUint64Array, 8],
];
if (f16) CTORS.push(["float16", f16, 2]);
const DTYPE_BY_CTOR = new Map<unknown, DType>(CTORS.map(([name, ctor]) => [ctor, name]));
const CTOR_BY_DTYPE = new Map<string, Ctor>(CTORS.map(([name, ctor]) => [name, ctor]));

/** Return the dtype name of a typed array, or `undefined` when it is not a numeric typed array. */
export function dtypeOf(value: unknown): DType | undefined {
  if (!ArrayBuffer.isView(value) || value instanceof DataView) return undefined;
  const direct = DTYPE_BY_CTOR.get(value.constructor);
  if (direct !== undefined) return direct;
  // Subclasses of a typed array class.
  for (const [name, ctor] of CTORS) {
    if (value instanceof ctor) return name;
  }
  return undefined;
}

/** The typed-array constructor of a dtype, or `undefined` for an unknown name. */
export function dtypeCtor(dtype: string): Ctor | undefined {
  return CTOR_BY_DTYPE.get(dtype);
}

/** Bytes per element of a dtype, or `undefined` for an unknown name. */
export function dtypeSize(dtype: string): number | undefined {
  for (const [name, , size] of CTORS) if (name === dtype) return size;
  return undefined;
}

/**
 * View `bytes` as a typed array of `dtype` with `length` elements, without copying when the
 * buffer is suitably aligned (it is for buffers spool allocates), copying otherwise.
 */
export function viewAs(dtype: DType, bytes: Uint8Array, length: number): NumericArray {
  const entry = CTORS.find(([name]) => name === dtype);
  if (!entry) {
    throw new InvalidArgumentError("view bytes as a typed array", "unknown dtype", {
      received: dtype,
    });
  }
  const [, ctor, size] = entry;
  if (bytes.byteOffset % size !== 0) bytes = bytes.slice();
  return new ctor(bytes.buffer, bytes.byteOffset, length) as NumericArray;
}

/** `true` on little-endian hosts (every platform Deno ships for). */
export const HOST_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
