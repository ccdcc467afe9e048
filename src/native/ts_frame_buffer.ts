/**
 * `TsFrameBuffer`: the pure-TypeScript `FrameBuffer`. Each append keeps a reference to the chunk
 * (no copy); `take()` allocates one array per column (or reuses one given back with `recycle()`)
 * and copies each chunk into it once.
 *
 * @module
 */

import { ClosedError, InvalidArgumentError } from "../errors.ts";
import {
  APPEND,
  ARRAY_CONSTRUCTORS,
  checkChunk,
  checkNoExtraColumns,
  checkRecycled,
  checkSchema,
  type ColumnKind,
  type ColumnsOf,
  type FrameSchema,
  kindOf,
  missingColumn,
  type NumericArray,
  TAKE,
} from "./frame_schema.ts";

/** A typed-array constructor that views a whole buffer. */
type BufferView = new (buffer: ArrayBufferLike) => NumericArray;

/**
 * The pure-TypeScript `FrameBuffer` (`frame_buffer.ts` has the interface, and `createFrameBuffer`,
 * which picks between the implementations).
 */
export class TsFrameBuffer<S extends FrameSchema = FrameSchema> {
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
    const cols = checkChunk(columns);
    let rows = -1;
    let bytes = 0;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const col = cols[name];
      if (col === undefined) throw missingColumn(cols, names, i);
      if (!(col instanceof ARRAY_CONSTRUCTORS[this.#kinds[i]!])) {
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
    checkNoExtraColumns(cols, names);
    for (let i = 0; i < names.length; i++) this.#chunks[i]!.push(cols[names[i]!]!);
    this.#rows += rows;
    this.#bytes += bytes;
  }

  /** The concatenated columns: one allocation and one copy per chunk. */
  take(): ColumnsOf<S> {
    if (this.#closed) throw new ClosedError(TAKE, "the FrameBuffer is closed");
    const out: Record<string, NumericArray> = {};
    for (let i = 0; i < this.#names.length; i++) {
      out[this.#names[i]!] = this.#concatenated(i);
    }
    this.#chunks = this.#names.map(() => []);
    this.#rows = 0;
    this.#bytes = 0;
    return out as ColumnsOf<S>;
  }

  /** Column `i`'s chunks as one array: the chunk itself when there is one. */
  #concatenated(i: number): NumericArray {
    const chunks = this.#chunks[i]!;
    if (chunks.length === 1) return chunks[0]!;
    const rows = this.#rows;
    const spare = this.#spare[i];
    let target: NumericArray;
    if (spare && spare.length >= rows && spare.length <= 2 * rows) {
      target = spare.length === rows ? spare : spare.subarray(0, rows);
      this.#spare[i] = undefined;
    } else {
      target = new ARRAY_CONSTRUCTORS[this.#kinds[i]!](rows);
    }
    this.#taken.add(target);
    let at = 0;
    for (const chunk of chunks) {
      // deno-lint-ignore no-explicit-any
      (target as any).set(chunk, at);
      at += chunk.length;
    }
    return target;
  }

  /** Keep taken columns for reuse by the next takes (one spare array per column). */
  recycle(columns: Partial<ColumnsOf<S>>): void {
    const cols = checkRecycled(columns);
    for (let i = 0; i < this.#names.length; i++) {
      const col = cols[this.#names[i]!];
      if (!col || !this.#taken.has(col)) continue;
      this.#taken.delete(col);
      const whole = ARRAY_CONSTRUCTORS[this.#kinds[i]!] as unknown as BufferView;
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
