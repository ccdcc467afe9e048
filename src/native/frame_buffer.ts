/**
 * `FrameBuffer`: accumulate typed-array columns chunk by chunk, then take them concatenated.
 *
 * The interface, its options and {@linkcode createFrameBuffer}, which picks one of three
 * implementations:
 * - `"native"` ({@link ./native_frame_buffer.ts}, Rust): each append copies the chunk into Rust
 *   memory once; `take()` hands that memory to JavaScript as external ArrayBuffers (no second
 *   copy). The bytes held live off the JS heap.
 * - `"ts"` ({@link ./ts_frame_buffer.ts}): each append keeps a reference to the chunk (no copy);
 *   `take()` allocates one array per column and copies each chunk into it once.
 * - `"auto"` with the addon loaded ({@link ./adaptive_frame_buffer.ts}): native, moving to TS
 *   when the use favours it.
 *
 * The schema types and the checks the implementations share are in {@link ./frame_schema.ts}.
 *
 * @module
 */

import { optionalOneOf, optionsOf } from "../_internal/options.ts";
import { AdaptiveFrameBuffer } from "./adaptive_frame_buffer.ts";
import type { ColumnsOf, FrameSchema } from "./frame_schema.ts";
import { nativeBinding } from "./load.ts";
import { NativeFrameBuffer } from "./native_frame_buffer.ts";
import { TsFrameBuffer } from "./ts_frame_buffer.ts";

/** Which implementation to use: `"auto"` (default) follows the loader and the benchmarks. */
export type FrameBufferImplementation = "auto" | "native" | "ts";

/** Options of {@linkcode createFrameBuffer}. */
export interface FrameBufferOptions {
  /** `"auto"` (default), `"native"` (throws `NativeLoadError` if unavailable) or `"ts"`. */
  implementation?: FrameBufferImplementation;
}

/**
 * Columns accumulated chunk by chunk. Appended arrays belong to the buffer until the next
 * `take()`: do not modify them in between (the TypeScript implementation keeps references).
 */
export interface FrameBuffer<S extends FrameSchema = FrameSchema> extends Disposable {
  /** `"native"` or `"ts"`. */
  readonly implementation: "native" | "ts";
  /** The schema given at creation. */
  readonly schema: Readonly<S>;
  /** Rows appended since the last take. */
  readonly rows: number;
  /** Bytes appended since the last take (exact: the sum of the arrays' byte lengths). */
  readonly byteLength: number;
  /** Whether {@linkcode FrameBuffer.close} was called. */
  readonly closed: boolean;
  /** Append one chunk: every column of the schema, of its kind, all of the same length. */
  append(columns: ColumnsOf<S>): void;
  /** The concatenation of every chunk since the last take, one contiguous array per column. */
  take(): ColumnsOf<S>;
  /**
   * Give back columns from an earlier `take()` that you no longer use: their memory is reused
   * by the next appends/takes instead of fresh memory (whose page faults cost more than the
   * copy itself). The arrays become empty (detached). Arrays this buffer did not produce are
   * ignored.
   */
  recycle(columns: Partial<ColumnsOf<S>>): void;
  /** Free what is held; later `append`/`take` throw `ClosedError`. */
  close(): void;
}

/**
 * A {@linkcode FrameBuffer} for `schema`. `implementation: "auto"` (the default) picks the faster
 * implementation per use, as measured (docs/bench-native.md): the native buffer for plain
 * append + take cycles when the addon is loaded, the TypeScript buffer once taken columns are
 * handed back with `recycle()` (or when the addon is not loaded). `"native"` and `"ts"` force one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFrameBuffer } from "@spool/spool";
 *
 * using buf = createFrameBuffer({ t: "Float64Array", id: "Int32Array" });
 * buf.append({ t: new Float64Array([1, 2]), id: new Int32Array([7, 8]) });
 * buf.append({ t: new Float64Array([3]), id: new Int32Array([9]) });
 * assert.equal(buf.rows, 3);
 * assert.equal(buf.byteLength, 3 * 8 + 3 * 4);
 * const { t, id } = buf.take();
 * assert.equal(t.join(), "1,2,3");
 * assert.equal(id.join(), "7,8,9");
 * assert.equal(buf.rows, 0);
 * ```
 */
export function createFrameBuffer<S extends FrameSchema>(
  schema: S,
  options: FrameBufferOptions = {},
): FrameBuffer<S> {
  const action = "create a FrameBuffer";
  const checked = optionsOf(action, options, ["implementation"]);
  const impl = optionalOneOf(action, "implementation", checked.implementation, [
    "auto",
    "native",
    "ts",
  ]) ?? "auto";
  if (impl === "ts") return new TsFrameBuffer(schema);
  if (impl === "native") return new NativeFrameBuffer(schema);
  // Per use, as measured (docs/bench-native.md): native for plain append + take cycles, the TS
  // buffer once taken columns are recycled. Without the addon: TS.
  return nativeBinding() ? new AdaptiveFrameBuffer(schema) : new TsFrameBuffer(schema);
}
