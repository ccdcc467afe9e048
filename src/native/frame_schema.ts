/**
 * The schema of a `FrameBuffer` (column names mapped to typed-array kinds) and the
 * checks every implementation shares: of the schema at creation, of a chunk's column set at each
 * append, and of the columns given back to `recycle`.
 *
 * @module
 */

import { describe, InvalidArgumentError } from "../errors.ts";
import { isRecord } from "../_internal/options.ts";
import type { NumericArray } from "../_internal/typed_arrays.ts";
import type { ColumnKind } from "./binding.ts";

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

/** The constructor of each {@linkcode ColumnKind}. */
export const ARRAY_CONSTRUCTORS: {
  [K in ColumnKind]: { new (length: number): KindToArray[K]; readonly BYTES_PER_ELEMENT: number };
} = {
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

/** The action named by append errors. */
export const APPEND = "append to FrameBuffer";
/** The action named by take errors. */
export const TAKE = "take from FrameBuffer";

/** The column names of `schema`, after checking it is an object of known kinds. */
export function checkSchema(schema: FrameSchema): string[] {
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
    if (typeof kind !== "string" || !Object.hasOwn(ARRAY_CONSTRUCTORS, kind)) {
      throw new InvalidArgumentError(
        action,
        `column ${JSON.stringify(name)} must have a typed-array kind (${
          Object.keys(ARRAY_CONSTRUCTORS).join(", ")
        })`,
        { received: kind },
      );
    }
  }
  return names;
}

/** A chunk given to `append`, after checking it is an object (its columns are checked after). */
export function checkChunk(columns: unknown): Record<string, NumericArray> {
  if (columns === null || typeof columns !== "object") {
    throw new InvalidArgumentError(APPEND, "a chunk must be an object of typed arrays", {
      received: columns,
    });
  }
  return columns as Record<string, NumericArray>;
}

/** The error for column `names[i]` missing from a chunk. */
export function missingColumn(
  columns: Record<string, unknown>,
  names: readonly string[],
  i: number,
): InvalidArgumentError {
  return new InvalidArgumentError(
    APPEND,
    `column ${JSON.stringify(names[i])} is missing (expected ${names.join(", ")})`,
    { received: Object.keys(columns) },
  );
}

/** What a value that should be a column is, for messages: its constructor's name, or itself. */
export function kindOf(value: unknown): string {
  return ArrayBuffer.isView(value) ? value.constructor.name : describe(value);
}

/** Throw when a chunk has a column the schema does not (checked after the schema's columns). */
export function checkNoExtraColumns(
  columns: Record<string, unknown>,
  names: readonly string[],
): void {
  // Cheap check for an extra column: count keys only when the count differs.
  let n = 0;
  for (const _ in columns) n++;
  if (n !== names.length) {
    const extra = Object.keys(columns).filter((k) => !names.includes(k));
    throw new InvalidArgumentError(
      APPEND,
      `unknown column ${JSON.stringify(extra[0])} (expected ${names.join(", ")})`,
      { received: Object.keys(columns) },
    );
  }
}

/** The columns given to `recycle`: an object (its arrays this buffer did not produce are ignored). */
export function checkRecycled(columns: unknown): Record<string, NumericArray | undefined> {
  if (!isRecord(columns)) {
    throw new InvalidArgumentError(
      "recycle FrameBuffer columns",
      "columns must be an object of taken columns (as take() returned them)",
      { received: columns },
    );
  }
  return columns as Record<string, NumericArray | undefined>;
}
