/**
 * `Frame`: a columnar batch. Named columns of equal length; each column is a numeric typed array
 * or a plain array (strings, objects, anything).
 *
 * @module
 */

import { assertInteger } from "../errors.ts";
import type { NumericArray } from "../_internal/typed_arrays.ts";
import { type DType, dtypeCtor, dtypeOf } from "../state/dtype.ts";
import { byteSizeOf } from "../_internal/bytes.ts";
import { FrameError } from "./errors.ts";

/** Every numeric typed array a frame column may be. */
export type NumericColumn = NumericArray;

/** A frame column: a numeric typed array, or a plain array of any values. */
export type Column = NumericColumn | unknown[];

/** The columns of a frame, by name. */
export type Columns = Record<string, Column>;

/** Name of a column's kind: a typed-array dtype, or `"plain"` for plain arrays. */
export type FrameColumnKind = DType | "plain";

// deno-lint-ignore no-explicit-any
type TypedCtor = { new (length: number): any; readonly BYTES_PER_ELEMENT: number };

/**
 * The kind of a column value: its dtype for a numeric typed array, `"plain"` for an `Array`,
 * `undefined` for anything else (a `DataView`, a string, an object...).
 */
export function columnKind(value: unknown): FrameColumnKind | undefined {
  return Array.isArray(value) ? "plain" : dtypeOf(value);
}

/** The typed-array constructor of a dtype (`undefined` for `"plain"` or an unknown name). */
export function ctorOfKind(kind: string): TypedCtor | undefined {
  return dtypeCtor(kind);
}

/**
 * Estimated bytes of a plain column: 8 bytes per slot plus `byteSizeOf` of each element (so the
 * estimate of a concatenation is exactly the sum of the estimates of its parts).
 */
export function plainColumnBytes(column: readonly unknown[]): number {
  if (!Array.isArray(column)) {
    throw new FrameError(
      "measure a plain column",
      "the column must be an Array",
      { received: column },
    );
  }
  let total = 8 * column.length;
  for (const v of column) {
    switch (typeof v) {
      case "number":
      case "boolean":
      case "undefined":
        total += 8;
        break;
      case "string":
        total += 16 + 2 * v.length;
        break;
      default:
        total += byteSizeOf(v);
    }
  }
  return total;
}

function columnBytes(column: Column): number {
  return Array.isArray(column) ? plainColumnBytes(column) : (column as NumericColumn).byteLength;
}

/**
 * A columnar batch: named columns of equal length, each a numeric typed array (every kind,
 * including `BigInt64Array`/`BigUint64Array`) or a plain array (strings, objects).
 *
 * Construction validates that every column is of a known kind and that all have the same length
 * (a {@linkcode FrameError} names the offending column). Columns are kept by reference (no
 * copy): treat a frame as immutable once it is handed to a buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, concat } from "@spool/spool";
 *
 * const a = new Frame({ t: new Float64Array([1, 2]), tag: ["x", "y"] });
 * const b = new Frame({ t: new Float64Array([3]), tag: ["z"] });
 * const ab = concat([a, b]);
 * assert.ok(ab.length === 3 && ab.columns.t[2] === 3 && ab.columns.tag[2] === "z");
 * assert.ok(a.byteSize === 16 + (8 + 18) * 2); // 2 float64 + 2 one-char strings (estimate)
 * ```
 */
export class Frame<C extends Columns = Columns> {
  /** The columns, by name (kept by reference). */
  readonly columns: Readonly<C>;
  /** Number of rows (the common length of the columns; 0 for a frame without columns). */
  readonly length: number;
  #bytes: number | undefined;

  /**
   * Build a frame from named columns.
   *
   * @param columns a record of typed arrays and/or plain arrays, all of the same length
   * @throws {FrameError} when a column is not a supported kind or lengths differ
   */
  constructor(columns: C) {
    const action = "build a frame";
    if (columns === null || typeof columns !== "object" || Array.isArray(columns)) {
      throw new FrameError(action, "columns must be a record of arrays", { received: columns });
    }
    let length: number | undefined;
    let first = "";
    for (const name of Object.keys(columns)) {
      const col = columns[name];
      if (columnKind(col) === undefined) {
        throw new FrameError(
          action,
          `column "${name}" must be a numeric typed array or a plain array`,
          { column: name, received: col },
        );
      }
      const n = (col as Column).length;
      if (length === undefined) {
        length = n;
        first = name;
      } else if (n !== length) {
        throw new FrameError(
          action,
          `column "${name}" has length ${n} but column "${first}" has length ${length}`,
          { column: name, received: n },
        );
      }
    }
    this.columns = Object.freeze({ ...columns });
    this.length = length ?? 0;
  }

  /** Column names, in insertion order. */
  get names(): (keyof C & string)[] {
    return Object.keys(this.columns) as (keyof C & string)[];
  }

  /**
   * Bytes held: exact `byteLength` for typed-array columns, the {@linkcode plainColumnBytes}
   * estimate for plain columns. Computed once, then cached.
   */
  get byteSize(): number {
    if (this.#bytes === undefined) {
      let total = 0;
      for (const col of Object.values(this.columns)) total += columnBytes(col as Column);
      this.#bytes = total;
    }
    return this.#bytes;
  }

  /** The kind (`"float64"`, ..., `"plain"`) of column `name`; a {@linkcode FrameError} if absent. */
  kindOf(name: keyof C & string): FrameColumnKind {
    const col = this.columns[name];
    if (col === undefined) {
      throw new FrameError("read a frame column", `no column "${name}"`, {
        column: name,
        received: this.names,
      });
    }
    return columnKind(col) as FrameColumnKind;
  }

  /**
   * Rows `start` (inclusive) to `end` (exclusive) as a new frame sharing memory (`subarray`).
   * Both are integers with `0 <= start <= end <= length` (no negative or clamped indices: an
   * index out of range is a bug in the caller, not a request for fewer rows).
   *
   * @throws {InvalidArgumentError} when `start` or `end` is not such an integer
   */
  slice(start = 0, end: number = this.length): Frame<C> {
    const action = "slice a frame";
    assertInteger(action, "start", start, 0, this.length);
    assertInteger(action, "end", end, start, this.length);
    const out: Record<string, Column> = {};
    for (const [name, col] of Object.entries(this.columns)) {
      out[name] = Array.isArray(col)
        ? col.slice(start, end)
        : (col as NumericColumn).subarray(start, end);
    }
    return new Frame(out as C);
  }
}

/** Bytes held by `frame` (see {@linkcode Frame.byteSize}). */
export function byteSize(frame: Frame): number {
  if (!(frame instanceof Frame)) {
    throw new FrameError("measure a frame", "the value is not a Frame", { received: frame });
  }
  return frame.byteSize;
}

/**
 * Concatenate frames row-wise, column by column, with one allocation per column
 * (`TypedArray.set` for typed columns). Every frame must have the same column names (in any
 * order; the result follows the first frame's order) and each column the same kind in every
 * frame; otherwise a {@linkcode FrameError} names the column. A single frame is returned as is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Columns, Frame, FrameError, concat } from "@spool/spool";
 *
 * const f = concat([new Frame({ x: new Int32Array([1]) }), new Frame({ x: new Int32Array([2]) })]);
 * assert.ok(f.columns.x instanceof Int32Array && f.columns.x[1] === 2);
 * try {
 *   concat<Columns>([new Frame({ x: new Int32Array(1) }), new Frame({ x: new Float64Array(1) })]);
 * } catch (error) {
 *   assert.ok(error instanceof FrameError && error.column === "x");
 * }
 * ```
 */
export function concat<C extends Columns>(frames: readonly Frame<C>[]): Frame<C> {
  const action = "concatenate frames";
  if (!Array.isArray(frames) || frames.length === 0) {
    throw new FrameError(action, "frames must be a non-empty array of Frame", { received: frames });
  }
  for (let i = 0; i < frames.length; i++) {
    if (!(frames[i] instanceof Frame)) {
      throw new FrameError(action, `frames[${i}] is not a Frame`, { received: frames[i] });
    }
  }
  const head = frames[0] as Frame<C>;
  if (frames.length === 1) return head;
  const names = head.names;
  const kinds = names.map((n) => columnKind(head.columns[n]) as FrameColumnKind);
  let total = 0;
  for (let i = 1; i < frames.length; i++) {
    const f = frames[i] as Frame<C>;
    const cols = f.columns as Record<string, Column>;
    const fnames = Object.keys(cols);
    for (const n of fnames) {
      if (!(n in head.columns)) {
        throw new FrameError(
          action,
          `frames[${i}] has column "${n}" that frames[0] does not have`,
          { column: n, received: fnames },
        );
      }
    }
    for (let j = 0; j < names.length; j++) {
      const n = names[j] as string;
      const col = cols[n];
      if (col === undefined) {
        throw new FrameError(action, `frames[${i}] has no column "${n}"`, {
          column: n,
          received: fnames,
        });
      }
      const k = columnKind(col);
      if (k !== kinds[j]) {
        throw new FrameError(
          action,
          `column "${n}" is ${kinds[j]} in frames[0] but ${k} in frames[${i}]`,
          { column: n, received: col },
        );
      }
    }
  }
  for (const f of frames) total += f.length;
  const out: Record<string, Column> = {};
  for (let j = 0; j < names.length; j++) {
    const n = names[j] as string;
    const kind = kinds[j] as FrameColumnKind;
    if (kind === "plain") {
      const dst = new Array(total);
      let at = 0;
      for (const f of frames) {
        const src = (f.columns as Record<string, unknown[]>)[n] as unknown[];
        for (let r = 0; r < src.length; r++) dst[at++] = src[r];
      }
      out[n] = dst;
    } else {
      const ctor = ctorOfKind(kind) as TypedCtor;
      const dst = new ctor(total) as Float64Array;
      let at = 0;
      for (const f of frames) {
        const src = (f.columns as Record<string, Float64Array>)[n] as Float64Array;
        dst.set(src, at);
        at += src.length;
      }
      out[n] = dst;
    }
  }
  return new Frame(out as C);
}
