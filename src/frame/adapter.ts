/**
 * Frame adapters: how a buffer measures, concatenates and persists a frame type. The built-in
 * {@linkcode frameAdapter} handles spool's {@linkcode Frame}; {@linkcode arrowAdapter} handles
 * Apache Arrow tables; users write their own for any other type.
 *
 * @module
 */

import { FrameError } from "./errors.ts";
import { byteSize, concat, Frame } from "./frame.ts";
import {
  checkReader,
  checkWriter,
  type FrameReader,
  type FrameWriter,
  readFrame,
  writeFrame,
} from "./codec.ts";

/**
 * What a buffer needs to hold frames of type `F`: a byte size and a concatenation, plus
 * (optionally) a way to save and load a frame inside a checkpoint.
 *
 * `save`/`load` receive a writer/reader whose file names are local to the frame (the loop
 * prefixes them); without them a loop cannot checkpoint a buffer of this type while it holds
 * data (it throws instead of silently dropping the data).
 */
export interface FrameAdapter<F> {
  /** A stable name, recorded in checkpoints (e.g. `"frame"`, `"arrow"`). */
  readonly name: string;
  /** Bytes held by `frame` (used for memory limits; must be deterministic). */
  byteSize(frame: F): number;
  /** Concatenate `frames` (non-empty) row-wise into one frame. */
  concat(frames: readonly F[]): F;
  /** `true` when `value` is a frame this adapter handles (used to validate `buffer()` input). */
  accepts?(value: unknown): boolean;
  /** Write `frame` into a checkpoint. */
  save?(frame: F, out: FrameWriter): Promise<void> | void;
  /** Read back a frame written by `save`. */
  load?(input: FrameReader): F;
}

/**
 * The adapter of spool's {@linkcode Frame}: exact byte sizes for typed columns, single-copy
 * `concat`, checkpointed with {@linkcode writeFrame}/{@linkcode readFrame} (typed columns as raw
 * binary, plain columns as JSON).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, frameAdapter } from "@spool/spool";
 *
 * const f = frameAdapter.concat([new Frame({ v: new Float64Array(2) }), new Frame({ v: new Float64Array(1) })]);
 * assert.ok(frameAdapter.byteSize(f) === 24);
 * ```
 */
export const frameAdapter: FrameAdapter<Frame> = Object.freeze({
  name: "frame",
  byteSize: (frame: Frame) => byteSize(frame),
  concat: (frames: readonly Frame[]) => concat(frames),
  accepts: (value: unknown) => value instanceof Frame,
  save: (frame: Frame, out: FrameWriter) => writeFrame(out, "", frame),
  load: (input: FrameReader) => readFrame(input, ""),
});

/** The part of an Apache Arrow `Table` the adapter uses (structural: no import of Arrow). */
export interface ArrowTableLike {
  /** Number of rows. */
  readonly numRows: number;
  /** The table's schema. */
  readonly schema: {
    readonly fields: readonly { readonly name: string; readonly type: unknown }[];
  };
  /** The table's record-batch data (each with a `byteLength`). */
  readonly data: readonly { readonly byteLength: number }[];
  /** Arrow's zero-copy concatenation (the result shares the batches). */
  concat(...others: ArrowTableLike[]): ArrowTableLike;
}

/** The functions of the `apache-arrow` module the adapter needs. */
export interface ArrowModuleLike<T extends ArrowTableLike> {
  /** Serialize a table to the IPC stream format. */
  tableToIPC(table: T): Uint8Array;
  /** Read a table from IPC bytes. */
  tableFromIPC(bytes: Uint8Array): T;
  /** The `Table` class (used by `accepts`), optional. */
  Table?: abstract new (...args: never[]) => unknown;
}

/**
 * Build an adapter for Apache Arrow tables from the `apache-arrow` module you import
 * (spool itself does not depend on Arrow). `byteSize` is the sum of Arrow's own
 * `Data.byteLength` over the table's batches; `concat` checks that every table has the same
 * field names and types (a {@linkcode FrameError} names the first differing column) and then
 * uses Arrow's zero-copy `Table.concat` (the result is a chunked table sharing the batches);
 * checkpoints store the table in the Arrow IPC format.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as arrow from "npm:apache-arrow@19";
 * import { arrowAdapter } from "@spool/spool";
 *
 * const adapter = arrowAdapter(arrow);
 * const a = arrow.tableFromArrays({ v: new Float64Array([1, 2]) });
 * const b = arrow.tableFromArrays({ v: new Float64Array([3]) });
 * assert.ok(adapter.concat([a, b]).numRows === 3);
 * ```
 */
export function arrowAdapter<T extends ArrowTableLike>(
  arrow: ArrowModuleLike<T>,
): FrameAdapter<T> {
  if (
    arrow === null || typeof arrow !== "object" || typeof arrow.tableToIPC !== "function" ||
    typeof arrow.tableFromIPC !== "function" ||
    (arrow.Table !== undefined && typeof arrow.Table !== "function")
  ) {
    throw new FrameError(
      "build an Arrow adapter",
      'pass the module imported from "npm:apache-arrow" (tableToIPC, tableFromIPC, Table)',
      { received: arrow },
    );
  }
  const isTable = (v: unknown): v is T =>
    v !== null && typeof v === "object" &&
    (arrow.Table ? v instanceof arrow.Table : "schema" in v && "numRows" in v && "data" in v);
  return Object.freeze({
    name: "arrow",
    accepts: isTable,
    byteSize(table: T): number {
      if (!isTable(table)) {
        throw new FrameError(
          "measure an Arrow table",
          "the value is not a Table",
          { received: table },
        );
      }
      let n = 0;
      for (const d of table.data) n += d.byteLength;
      return n;
    },
    concat(tables: readonly T[]): T {
      const action = "concatenate Arrow tables";
      if (!Array.isArray(tables) || tables.length === 0) {
        throw new FrameError(action, "tables must be a non-empty array", { received: tables });
      }
      for (let i = 0; i < tables.length; i++) {
        const t = tables[i];
        if (!isTable(t)) {
          throw new FrameError(action, `tables[${i}] is not a Table`, { received: t });
        }
      }
      const head = tables[0] as T;
      const fields = head.schema.fields;
      for (let i = 1; i < tables.length; i++) {
        const other = (tables[i] as T).schema.fields;
        const n = Math.max(fields.length, other.length);
        for (let j = 0; j < n; j++) {
          const a = fields[j];
          const b = other[j];
          if (a?.name !== b?.name || String(a?.type) !== String(b?.type)) {
            const col = (a ?? b)?.name ?? String(j);
            throw new FrameError(
              action,
              `column ${j} of tables[${i}] differs from tables[0], which has ${
                a ? `${a.name}: ${a.type}` : "no such column"
              }`,
              { column: col, received: b ? `${b.name}: ${b.type}` : "no such column" },
            );
          }
        }
      }
      if (tables.length === 1) return head;
      return head.concat(...tables.slice(1)) as T;
    },
    save(table: T, out: FrameWriter) {
      const action = "save an Arrow table";
      if (!isTable(table)) {
        throw new FrameError(action, "the value is not a Table", { received: table });
      }
      checkWriter(action, out, ["writeBytes"]);
      return out.writeBytes("ipc", arrow.tableToIPC(table));
    },
    load(input: FrameReader): T {
      checkReader("load an Arrow table", input, ["readBytes"]);
      return arrow.tableFromIPC(input.readBytes("ipc"));
    },
  });
}
