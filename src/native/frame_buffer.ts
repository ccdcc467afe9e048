/**
 * `FrameBuffer`: accumulate typed-array columns chunk by chunk, then take them concatenated.
 *
 * Two implementations of one interface:
 * - `"native"` (Rust, {@link ./load.ts}): each append copies the chunk into Rust memory once;
 *   `take()` hands that memory to JavaScript as external ArrayBuffers (no second copy). The
 *   bytes held live off the JS heap.
 * - `"ts"`: each append keeps a reference to the chunk (no copy); `take()` allocates one array
 *   per column and copies each chunk into it once.
 *
 * @module
 */

import { assertInteger, describe, InvalidArgumentError, SpoolError } from "../errors.ts";
import { isRecord, optionalOneOf, optionsOf } from "../_internal/options.ts";
import type { ColumnKind, NativeFrameBufferInstance } from "./binding.ts";
import type { NumericArray } from "../_internal/typed_arrays.ts";
import { nativeBinding, nativeStatus } from "./load.ts";
import { ClosedError } from "../errors.ts";
import { NativeLoadError, withCause } from "./errors.ts";

export type { ColumnKind, NumericArray };

/** The typed array type of each {@linkcode ColumnKind}. */
export interface KindToArray {
  /** Int8Array */
  Int8Array: Int8Array;
  /** Uint8Array */
  Uint8Array: Uint8Array;
  /** Uint8ClampedArray */
  Uint8ClampedArray: Uint8ClampedArray;
  /** Int16Array */
  Int16Array: Int16Array;
  /** Uint16Array */
  Uint16Array: Uint16Array;
  /** Int32Array */
  Int32Array: Int32Array;
  /** Uint32Array */
  Uint32Array: Uint32Array;
  /** Float32Array */
  Float32Array: Float32Array;
  /** Float64Array */
  Float64Array: Float64Array;
  /** BigInt64Array */
  BigInt64Array: BigInt64Array;
  /** BigUint64Array */
  BigUint64Array: BigUint64Array;
}

/** Column names mapped to their kinds, e.g. `{ t: "Float64Array", id: "Int32Array" }`. */
export type FrameSchema = Record<string, ColumnKind>;

/** One chunk (or the taken result) of a schema: each column as its typed array. */
export type ColumnsOf<S extends FrameSchema> = { [K in keyof S]: KindToArray[S[K]] };

/** Which implementation to use: `"auto"` (default) follows the loader and the benchmarks. */
export type FrameBufferImplementation = "auto" | "native" | "ts";

/** Options of {@linkcode createFrameBuffer}. */
export interface FrameBufferOptions {
  /** `"auto"` (default), `"native"` (throws {@linkcode NativeLoadError} if unavailable) or `"ts"`. */
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
  /** Free what is held; later `append`/`take` throw {@linkcode ClosedError}. */
  close(): void;
}

const CTORS: { [K in ColumnKind]: { new (n: number): KindToArray[K] } } = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

const APPEND = "append to FrameBuffer";
const TAKE = "take from FrameBuffer";

function checkSchema(schema: FrameSchema): string[] {
  const action = "create a FrameBuffer";
  if (!isRecord(schema)) {
    throw new InvalidArgumentError(
      action,
      "the schema must be an object of column names to typed-array kinds",
      { received: schema },
    );
  }
  const names = Object.keys(schema);
  if (names.length === 0) {
    throw new InvalidArgumentError(action, "the schema needs at least one column", {
      received: schema,
    });
  }
  for (const name of names) {
    const kind = schema[name];
    if (typeof kind !== "string" || !Object.hasOwn(CTORS, kind)) {
      throw new InvalidArgumentError(
        action,
        `column ${JSON.stringify(name)} must have a typed-array kind (${
          Object.keys(CTORS).join(", ")
        })`,
        { received: kind },
      );
    }
  }
  return names;
}

function kindOf(value: unknown): string {
  return ArrayBuffer.isView(value) ? value.constructor.name : describe(value);
}

/** The pure-TypeScript FrameBuffer. */
export class TsFrameBuffer<S extends FrameSchema = FrameSchema> implements FrameBuffer<S> {
  /** Always `"ts"`. */
  readonly implementation: "ts" = "ts";
  /** The schema given at creation. */
  readonly schema: Readonly<S>;
  readonly #names: string[];
  readonly #kinds: ColumnKind[];
  #chunks: NumericArray[][];
  #spare: (NumericArray | undefined)[];
  readonly #taken = new WeakSet<NumericArray>();
  #rows = 0;
  #bytes = 0;
  #closed = false;

  /**
   * An empty TypeScript buffer for `schema`.
   *
   * @param schema column names mapped to typed-array kinds
   */
  constructor(schema: S) {
    this.#names = checkSchema(schema);
    this.schema = Object.freeze({ ...schema });
    this.#kinds = this.#names.map((n) => schema[n]!);
    this.#chunks = this.#names.map(() => []);
    this.#spare = this.#names.map(() => undefined);
  }

  /** Rows appended since the last take. */
  get rows(): number {
    return this.#rows;
  }

  /** Bytes appended since the last take. */
  get byteLength(): number {
    return this.#bytes;
  }

  /** Whether the buffer is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Append one chunk (kept by reference until the next take). */
  append(columns: ColumnsOf<S>): void {
    if (this.#closed) throw new ClosedError(APPEND, "the FrameBuffer is closed");
    const names = this.#names;
    const cols = columns as Record<string, NumericArray>;
    if (cols === null || typeof cols !== "object") {
      throw new InvalidArgumentError(APPEND, "a chunk must be an object of typed arrays", {
        received: cols,
      });
    }
    let rows = -1;
    let bytes = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const col = cols[name];
      if (col === undefined) {
        throw new InvalidArgumentError(
          APPEND,
          `column ${JSON.stringify(name)} is missing (expected ${names.join(", ")})`,
          { received: Object.keys(cols) },
        );
      }
      if (!(col instanceof CTORS[this.#kinds[i]!])) {
        throw new InvalidArgumentError(
          APPEND,
          `column ${JSON.stringify(name)} must be a ${this.#kinds[i]}`,
          { received: kindOf(col) },
        );
      }
      if (rows === -1) rows = col.length;
      else if (col.length !== rows) {
        throw new InvalidArgumentError(
          APPEND,
          `columns must have equal lengths, column ${JSON.stringify(names[0])} has ${rows} rows`,
          { received: `${col.length} rows in column ${JSON.stringify(name)}` },
        );
      }
      bytes += col.byteLength;
    }
    checkExtra(cols, names);
    for (let i = 0; i < names.length; i++) this.#chunks[i]!.push(cols[names[i]!]!);
    this.#rows += rows;
    this.#bytes += bytes;
  }

  /** The concatenated columns: one allocation and one copy per chunk. */
  take(): ColumnsOf<S> {
    if (this.#closed) throw new ClosedError(TAKE, "the FrameBuffer is closed");
    const out: Record<string, NumericArray> = {};
    const rows = this.#rows;
    for (let i = 0; i < this.#names.length; i++) {
      const chunks = this.#chunks[i]!;
      if (chunks.length === 1) {
        out[this.#names[i]!] = chunks[0]!;
        continue;
      }
      const spare = this.#spare[i];
      let target: NumericArray;
      if (spare && spare.length >= rows && spare.length <= 2 * rows) {
        target = spare.length === rows ? spare : spare.subarray(0, rows);
        this.#spare[i] = undefined;
      } else {
        target = new CTORS[this.#kinds[i]!](rows);
      }
      this.#taken.add(target);
      let at = 0;
      for (const chunk of chunks) {
        // deno-lint-ignore no-explicit-any
        (target as any).set(chunk, at);
        at += chunk.length;
      }
      out[this.#names[i]!] = target;
    }
    this.#chunks = this.#names.map(() => []);
    this.#rows = 0;
    this.#bytes = 0;
    return out as ColumnsOf<S>;
  }

  /** Keep taken columns for reuse by the next takes (one spare array per column). */
  recycle(columns: Partial<ColumnsOf<S>>): void {
    const cols = checkRecycled(columns);
    for (let i = 0; i < this.#names.length; i++) {
      const col = cols[this.#names[i]!];
      if (!col || !this.#taken.has(col)) continue;
      this.#taken.delete(col);
      const whole = new CTORS[this.#kinds[i]!](0).constructor as unknown as {
        new (b: ArrayBufferLike): NumericArray;
      };
      // Keep the whole allocation (a take may have returned a prefix view of a spare).
      this.#spare[i] = new whole(col.buffer);
    }
  }

  /** Drop the references held; later calls throw. */
  close(): void {
    this.#closed = true;
    this.#spare = this.#names.map(() => undefined);
    this.#chunks = this.#names.map(() => []);
    this.#rows = 0;
    this.#bytes = 0;
  }

  /** Same as {@linkcode TsFrameBuffer.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** The columns given to `recycle`: an object (its arrays this buffer did not produce are ignored). */
function checkRecycled(columns: unknown): Record<string, NumericArray | undefined> {
  if (!isRecord(columns)) {
    throw new InvalidArgumentError(
      "recycle FrameBuffer columns",
      "columns must be an object of taken columns (as take() returned them)",
      { received: columns },
    );
  }
  return columns as Record<string, NumericArray | undefined>;
}

function checkExtra(cols: Record<string, unknown>, names: string[]): void {
  // Cheap check for an extra column: count keys only when the count differs.
  let n = 0;
  for (const _ in cols) n++;
  if (n !== names.length) {
    const extra = Object.keys(cols).filter((k) => !names.includes(k));
    throw new InvalidArgumentError(
      APPEND,
      `unknown column ${JSON.stringify(extra[0])} (expected ${names.join(", ")})`,
      { received: Object.keys(cols) },
    );
  }
}

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
    return new SpoolError("use the native FrameBuffer", "failed", { received: error });
  }
  const match = /^Cannot ([^:]+): (.*)$/s.exec(error.message);
  const code = (error as { code?: string }).code;
  if (!match) return error;
  const Ctor = code === "Closing" ? ClosedError : InvalidArgumentError;
  // The addon's message names the value when there is one ("..., received Float32Array").
  const parts = /^(.*), received (.*)$/s.exec(match[2]!);
  const typedError = parts
    ? new Ctor(match[1]!, parts[1]!, { received: parts[2]! })
    : new Ctor(match[1]!, match[2]!); // nothing was received (a closed buffer)
  if (parts) typedError.message = error.message; // the addon's rendering, not a quoted string
  return withCause(typedError, error);
}

/** The Rust FrameBuffer behind the same interface. */
export class NativeFrameBuffer<S extends FrameSchema = FrameSchema> implements FrameBuffer<S> {
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
    const cols = columns as Record<string, NumericArray>;
    if (cols === null || typeof cols !== "object") {
      throw new InvalidArgumentError(APPEND, "a chunk must be an object of typed arrays", {
        received: cols,
      });
    }
    const names = this.#names;
    try {
      if (this.#single) {
        const col = cols[names[0]!];
        if (col === undefined) this.#missing(cols, 0);
        checkExtra(cols, names);
        this.#inner.append1(col!);
        return;
      }
      const arrays = new Array<NumericArray>(names.length);
      for (let i = 0; i < names.length; i++) {
        const col = cols[names[i]!];
        if (col === undefined) this.#missing(cols, i);
        arrays[i] = col!;
      }
      checkExtra(cols, names);
      this.#inner.append(arrays);
    } catch (error) {
      if (error instanceof SpoolError) throw error;
      // Not a typed array (napi-rs's own message): name the column (only on the error path).
      for (let i = 0; i < names.length; i++) {
        const col = cols[names[i]!];
        if (!ArrayBuffer.isView(col) || col instanceof DataView) {
          throw new InvalidArgumentError(
            APPEND,
            `column ${JSON.stringify(names[i])} must be a ${this.schema[names[i]!]}`,
            { received: kindOf(col) },
          );
        }
      }
      throw typed(error);
    }
  }

  #missing(cols: Record<string, unknown>, i: number): never {
    throw new InvalidArgumentError(
      APPEND,
      `column ${JSON.stringify(this.#names[i])} is missing (expected ${this.#names.join(", ")})`,
      { received: Object.keys(cols) },
    );
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
      rowBytes += (CTORS[this.schema[name]!] as unknown as { BYTES_PER_ELEMENT: number })
        .BYTES_PER_ELEMENT;
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
  const o = optionsOf(action, options, ["implementation"]);
  const impl = optionalOneOf(action, "implementation", o.implementation, [
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

/**
 * What `createFrameBuffer()` returns when the addon is loaded: the faster implementation per
 * use, as measured (docs/bench-native.md). Plain append + take cycles of chunks of 32 KiB or more
 * run native (one copy at append into pooled Rust memory: 1.45–2.2× the TS fallback in 8 of 9
 * `deno bench` runs). The buffer moves to the TS fallback, at the next empty point, once the
 * caller hands taken columns back with `recycle()` (both then copy into warm memory and TS saves
 * the per-append native call: TS 1.0–2.3× faster) or when a take shows chunks averaging under
 * 32 KiB (per-call overhead: native lost at 16 KiB in 2 of 4 runs).
 */
/** Chunks (all columns) averaging fewer bytes than this go to the TS buffer (measured). */
const SMALL_CHUNK = 32 * 1024;

class AdaptiveFrameBuffer<S extends FrameSchema> implements FrameBuffer<S> {
  readonly schema: Readonly<S>;
  #impl: FrameBuffer<S>;
  #preferTs = false;
  #appends = 0;

  constructor(schema: S) {
    this.#impl = new NativeFrameBuffer(schema);
    this.schema = this.#impl.schema as Readonly<S>;
  }

  get implementation(): "native" | "ts" {
    return this.#impl.implementation;
  }

  get rows(): number {
    return this.#impl.rows;
  }

  get byteLength(): number {
    return this.#impl.byteLength;
  }

  get closed(): boolean {
    return this.#impl.closed;
  }

  append(columns: ColumnsOf<S>): void {
    this.#impl.append(columns);
    this.#appends++;
  }

  take(): ColumnsOf<S> {
    const bytes = this.#impl.byteLength;
    const out = this.#impl.take();
    if (this.#appends > 0 && bytes / this.#appends < SMALL_CHUNK) this.#preferTs = true;
    this.#appends = 0;
    this.#switchIfEmpty();
    return out;
  }

  recycle(columns: Partial<ColumnsOf<S>>): void {
    this.#impl.recycle(columns);
    this.#preferTs = true;
    this.#switchIfEmpty();
  }

  #switchIfEmpty(): void {
    if (this.#preferTs && this.#impl.implementation === "native" && this.#impl.rows === 0) {
      this.#impl.close();
      this.#impl = new TsFrameBuffer(this.schema as S);
    }
  }

  close(): void {
    this.#impl.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
