/**
 * The typed-array types every area shares (state codecs, frames, the native accelerator), defined
 * here so that no area depends on the optional native module for a type.
 *
 * @module
 */

/** Any numeric typed array. */
export type NumericArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;
