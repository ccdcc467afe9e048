/**
 * `NativeFrameBuffer`: the `FrameBuffer` backed by the Rust addon (`native/src/frame_buffer.rs`,
 * loaded by {@link ./load.ts}). Each append copies the chunk into Rust memory once; `take()`
 * hands that memory to JavaScript as external ArrayBuffers (no second copy). The bytes held live
 * off the JS heap.
 *
 * @module
 */

import {
  assertInteger,
  ClosedError,
  InternalError,
  InvalidArgumentError,
  SpoolError,
} from "../errors.ts";
import type { NativeFrameBufferInstance } from "./binding.ts";
import { NativeLoadError } from "./errors.ts";
import {
  APPEND,
  ARRAY_CONSTRUCTORS,
  checkChunk,
  checkNoExtraColumns,
  checkRecycled,
  checkSchema,
  type ColumnsOf,
  type FrameSchema,
  kindOf,
  missingColumn,
  type NumericArray,
} from "./frame_schema.ts";
import { nativeBinding, nativeStatus } from "./load.ts";

/** The machine's memory in bytes (1 TiB when the `sys` permission does not allow reading it). */
function memoryBytes(): number {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state === "granted") {
      return Deno.systemMemoryInfo().total;
    }
  } catch { /* not readable here */ }
  return 2 ** 40;
}

/** Rethrow an addon error as spool's typed error (the message is kept). */
function typed(error: unknown): Error {
  if (!(error instanceof Error)) {
    // napi-rs throws Errors only: anything else is a bug in the addon.
    return new InternalError("use the native FrameBuffer", "the addon threw a non-Error", {
      received: error,
    });
  }
  const match = /^Cannot ([^:]+): (.*)$/s.exec(error.message);
  const code = (error as { code?: string }).code;
  if (!match) return error;
  const Ctor = code === "Closing" ? ClosedError : InvalidArgumentError;
  // The addon's message names the value when there is one ("..., received Float32Array").
  const parts = /^(.*), received (.*)$/s.exec(match[2]!);
  return parts
    // shown as the addon rendered it, not as a quoted string
    ? new Ctor(match[1]!, parts[1]!, { received: parts[2]!, shown: parts[2]!, cause: error })
    : new Ctor(match[1]!, match[2]!, { cause: error }); // nothing was received (a closed buffer)
}

/**
 * The Rust `FrameBuffer` (`frame_buffer.ts` has the interface, and `createFrameBuffer`, which
 * picks between the implementations).
 */
export class NativeFrameBuffer<S extends FrameSchema = FrameSchema> {
  /** Always `"native"`. */
  readonly implementation: "native" = "native";
  /** The schema given at creation. */
  readonly schema: Readonly<S>;
  readonly #names: string[];
  readonly #inner: NativeFrameBufferInstance;
  readonly #single: boolean;
  readonly #taken = new WeakSet<NumericArray>();

  /**
   * An empty native buffer for `schema`.
   *
   * @param schema column names mapped to typed-array kinds
   * @throws {NativeLoadError} when the addon is not loaded
   */
  constructor(schema: S) {
    this.#names = checkSchema(schema);
    this.schema = Object.freeze({ ...schema });
    const binding = nativeBinding();
    if (!binding) {
      throw new NativeLoadError(
        "create a native FrameBuffer",
        "the native module is not loaded (the reason is nativeStatus().reason)",
        { received: nativeStatus().reason },
      );
    }
    this.#inner = new binding.NativeFrameBuffer(this.#names, this.#names.map((n) => schema[n]!));
    this.#single = this.#names.length === 1;
  }

  /** Rows appended since the last take. */
  get rows(): number {
    return this.#inner.rows;
  }

  /** Bytes held in Rust memory. */
  get byteLength(): number {
    return this.#inner.byteLength;
  }

  /** Whether the buffer is closed. */
  get closed(): boolean {
    return this.#inner.closed;
  }

  /** Append one chunk: copied once into Rust memory. */
  append(columns: ColumnsOf<S>): void {
    const cols = checkChunk(columns);
    const names = this.#names;
    try {
      if (this.#single) {
        const col = cols[names[0]!];
        if (col === undefined) throw missingColumn(cols, names, 0);
        checkNoExtraColumns(cols, names);
        this.#inner.append1(col);
        return;
      }
      const arrays = new Array<NumericArray>(names.length);
      for (let i = 0; i < names.length; i++) {
        const col = cols[names[i]!];
        if (col === undefined) throw missingColumn(cols, names, i);
        arrays[i] = col;
      }
      checkNoExtraColumns(cols, names);
      this.#inner.append(arrays);
    } catch (error) {
      throw this.#appendError(cols, error);
    }
  }

  /** What a failed append throws: spool's errors as they are, the addon's typed. */
  #appendError(cols: Record<string, unknown>, error: unknown): unknown {
    if (error instanceof SpoolError) return error;
    // Not a typed array (napi-rs's own message): name the column (only on the error path).
    const names = this.#names;
    for (let i = 0; i < names.length; i++) {
      const col = cols[names[i]!];
      if (!ArrayBuffer.isView(col) || col instanceof DataView) {
        return new InvalidArgumentError(
          APPEND,
          `column ${JSON.stringify(names[i])} must be a ${this.schema[names[i]!]}`,
          { received: kindOf(col) },
        );
      }
    }
    return typed(error);
  }

  /** The concatenated columns, handed over without a copy. */
  take(): ColumnsOf<S> {
    let arrays: NumericArray[];
    try {
      arrays = this.#inner.take();
    } catch (error) {
      throw typed(error);
    }
    const out: Record<string, NumericArray> = {};
    for (let i = 0; i < this.#names.length; i++) {
      const a = arrays[i]!;
      if (a.length > 0) this.#taken.add(a);
      out[this.#names[i]!] = a;
    }
    return out as ColumnsOf<S>;
  }

  /** Detach taken columns: their Rust memory returns to the page pool at once. */
  recycle(columns: Partial<ColumnsOf<S>>): void {
    for (const col of Object.values(checkRecycled(columns))) {
      if (!col || !this.#taken.has(col)) continue;
      this.#taken.delete(col);
      // Detaching drops the engine's reference: the finalizer gives the memory back now.
      (col.buffer as ArrayBuffer & { transfer(n: number): ArrayBuffer }).transfer(0);
    }
  }

  /**
   * Reserve room for `rows` more rows (avoids regrowth when the total is known).
   *
   * @throws {InvalidArgumentError} when `rows` is not an integer >= 0, when the rows would take
   * more bytes than the machine has memory (checked here, with a clearer message), or when the
   * addon cannot allocate them (its error, rethrown; the rows held are unchanged)
   */
  reserve(rows: number): void {
    const action = "reserve rows in a FrameBuffer";
    assertInteger(action, "rows", rows, 0);
    let rowBytes = 0;
    for (const name of this.#names) {
      rowBytes += ARRAY_CONSTRUCTORS[this.schema[name]!].BYTES_PER_ELEMENT;
    }
    const limit = memoryBytes();
    if (rows * rowBytes > limit) {
      throw new InvalidArgumentError(
        action,
        `${rowBytes} bytes per row would exceed the machine's memory (${limit} bytes)`,
        { received: rows },
      );
    }
    this.#inner.reserve(rows);
  }

  /** Free the Rust memory; later calls throw. */
  close(): void {
    this.#inner.close();
  }

  /** Same as {@linkcode NativeFrameBuffer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
