/**
 * Ready-made components so callers need not write `PersistentState` classes.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import type { LoadContext, PersistentState, SaveContext } from "./context.ts";
import { isRecord } from "../_internal/options.ts";
import { dtypeOf } from "./dtype.ts";
import { type NumericArray } from "../_internal/typed_arrays.ts";
import { toExactJson } from "./json.ts";

/** A component holding one JSON value in `.value`. */
export interface JsonState<T> extends PersistentState {
  /** The current value; replace or mutate it freely. */
  value: T;
}

/**
 * A component holding a JSON value (stored as `value.json`). A value JSON would change or drop
 * (NaN, Infinity, undefined in an array, a function, a symbol, a bigint, a `Date`, `Map`, `Set`,
 * typed array or class instance, a cycle) is an `InvalidArgumentError` naming its path, at
 * creation and at every save; `-0` is saved as `0` and `undefined` properties are omitted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonState } from "@spool/spool";
 *
 * const position = jsonState({ done: 0, files: [] as string[] });
 * position.value.done += 10;
 * assert.ok(position.value.done === 10);
 * ```
 */
export function jsonState<T>(initial: T): JsonState<T> {
  toExactJson("create a jsonState", initial); // fail now, not at the first save
  return {
    value: initial,
    saveState(_dir: string, ctx: SaveContext) {
      return ctx.writeJson("value.json", this.value);
    },
    loadState(_dir: string, ctx: LoadContext) {
      this.value = ctx.readJson<T>("value.json");
    },
  };
}

/** A component holding one typed array in `.value`. */
export interface ArrayState<T extends NumericArray> extends PersistentState {
  /** The current array; on load it is replaced by an array of the saved dtype and length. */
  value: T;
}

/**
 * A component holding a numeric typed array, stored as raw binary (`value.bin`, dtype and length
 * in the manifest).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arrayState } from "@spool/spool";
 *
 * const weights = arrayState(new Float32Array(4));
 * weights.value[1] = 0.5;
 * assert.ok(weights.value.length === 4);
 * ```
 */
export function arrayState<T extends NumericArray>(initial: T): ArrayState<T> {
  if (dtypeOf(initial) === undefined) {
    throw new InvalidArgumentError(
      "create an arrayState",
      "initial must be a typed array",
      { received: initial },
    );
  }
  return {
    value: initial,
    saveState(_dir: string, ctx: SaveContext) {
      return ctx.writeArray("value.bin", this.value);
    },
    loadState(_dir: string, ctx: LoadContext) {
      this.value = ctx.readArray<T>("value.bin");
    },
  };
}

/** A component holding a record whose typed-array fields are binary and the rest JSON. */
export interface RecordState<T extends Record<string, unknown>> extends PersistentState {
  /** The current record; on load it is replaced by a new object with the saved fields. */
  value: T;
}

interface RecordIndex {
  /** Every key in order, with its binary file or `null` when it lives in `fields.json`. */
  keys: [key: string, file: string | null][];
}

/**
 * A component holding a record (e.g. buffered columns): every top-level field that is a numeric
 * typed array is stored as raw binary (`col-<i>.bin`), all other fields together as JSON
 * (`fields.json`, held to the rules of {@linkcode jsonState}: checked at creation and at every
 * save); keys may be any strings. Typed arrays nested deeper are not special-cased.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recordState } from "@spool/spool";
 *
 * const buffered = recordState({
 *   ts: new Float64Array([1, 2]),
 *   names: ["a", "b"],
 *   flushSeq: 7,
 * });
 * assert.ok(buffered.value.ts.length === 2);
 * ```
 */
export function recordState<T extends Record<string, unknown>>(initial: T): RecordState<T> {
  if (!isRecord(initial)) {
    throw new InvalidArgumentError("create a recordState", "initial must be an object", {
      received: initial,
    });
  }
  const fields: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(initial)) if (dtypeOf(v) === undefined) fields[key] = v;
  toExactJson("create a recordState", fields); // fail now, not at the first save
  return {
    value: initial,
    async saveState(_dir: string, ctx: SaveContext) {
      const index: RecordIndex = { keys: [] };
      const fields: Record<string, unknown> = {};
      const writes: Promise<void>[] = [];
      let i = 0;
      for (const [key, v] of Object.entries(this.value)) {
        if (dtypeOf(v) !== undefined) {
          const file = `col-${i++}.bin`;
          index.keys.push([key, file]);
          writes.push(ctx.writeArray(file, v as NumericArray));
        } else {
          index.keys.push([key, null]);
          fields[key] = v;
        }
      }
      writes.push(ctx.writeJson("fields.json", fields));
      writes.push(ctx.writeJson("index.json", index));
      await Promise.all(writes);
    },
    loadState(_dir: string, ctx: LoadContext) {
      const index = ctx.readJson<RecordIndex>("index.json");
      const fields = ctx.readJson<Record<string, unknown>>("fields.json");
      const out: Record<string, unknown> = {};
      for (const [key, file] of index.keys) {
        out[key] = file === null ? fields[key] : ctx.readArray(file);
      }
      this.value = out as T;
    },
  };
}
