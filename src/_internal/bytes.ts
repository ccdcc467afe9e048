/**
 * Byte accounting: exact for binary data, a documented estimate for the rest.
 *
 * - `ArrayBuffer`, `SharedArrayBuffer`, typed arrays, `DataView`: exactly `byteLength`.
 * - strings: 2 bytes per UTF-16 code unit + 16 bytes of header.
 * - numbers, booleans, null/undefined: 8 bytes; bigint: 16 bytes.
 * - plain arrays and objects: 16 bytes of header + 8 per slot/property + the size of each
 *   element (keys counted as strings), recursively, each object counted once.
 * - anything with a numeric `byteSize` property or a `byteSize()` method (a `Frame`, an adapter
 *   object) reports its own size.
 *
 * @module
 */

const HEADER = 16;
const SLOT = 8;

/**
 * Estimate (exact for binary data) how many bytes `value` holds. See the module doc for rules.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { byteSizeOf } from "@spool/spool";
 *
 * assert.equal(byteSizeOf(new Float64Array(1000)), 8000); // exact
 * assert.equal(byteSizeOf("abc"), 16 + 2 * 3); // header + UTF-16 code units
 * assert.ok(byteSizeOf({ a: [1, 2], s: "x" }) > byteSizeOf({ a: [1] })); // an estimate
 * ```
 */
export function byteSizeOf(value: unknown): number {
  return sizeOf(value, new Set());
}

function sizeOf(value: unknown, seen: Set<object>): number {
  switch (typeof value) {
    case "string":
      return HEADER + 2 * value.length;
    case "number":
    case "boolean":
    case "undefined":
    case "symbol":
    case "function":
      return SLOT;
    case "bigint":
      return 2 * SLOT;
  }
  if (value === null) return SLOT;
  const obj = value as object;
  if (ArrayBuffer.isView(obj)) return obj.byteLength;
  if (obj instanceof ArrayBuffer) return obj.byteLength;
  if (typeof SharedArrayBuffer !== "undefined" && obj instanceof SharedArrayBuffer) {
    return obj.byteLength;
  }
  if (seen.has(obj)) return SLOT;
  seen.add(obj);
  const own = (obj as { byteSize?: unknown }).byteSize;
  if (typeof own === "number" && Number.isFinite(own)) return own;
  if (typeof own === "function") {
    const n = (own as () => unknown).call(obj);
    if (typeof n === "number" && Number.isFinite(n)) return n;
  }
  let total = HEADER;
  if (Array.isArray(obj)) {
    total += SLOT * obj.length;
    for (const item of obj) total += sizeOf(item, seen);
    return total;
  }
  if (obj instanceof Map) {
    for (const [k, v] of obj) total += 2 * SLOT + sizeOf(k, seen) + sizeOf(v, seen);
    return total;
  }
  if (obj instanceof Set) {
    for (const v of obj) total += SLOT + sizeOf(v, seen);
    return total;
  }
  for (const key of Object.keys(obj)) {
    total += SLOT + HEADER + 2 * key.length + sizeOf((obj as Record<string, unknown>)[key], seen);
  }
  return total;
}
