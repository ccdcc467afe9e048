/**
 * Frame codec for checkpoints: typed columns as raw binary files (`writeArray`), plain columns
 * as JSON (through the value codec, so nested typed arrays, bigint and `Date` survive).
 *
 * The writer/reader interfaces are the parts of the state store's `SaveContext`/`LoadContext`
 * that frames need, so a store context can be passed directly.
 *
 * @module
 */

import { FrameError } from "./errors.ts";
import { type Column, columnKind, ctorOfKind, Frame, type NumericColumn } from "./frame.ts";
import { decodeValue, encodeValue } from "./values.ts";

/** Where a frame is written (a `SaveContext` fits). */
export interface FrameWriter {
  /** Write a JSON value under `name`. */
  writeJson(name: string, value: unknown): Promise<void> | void;
  /** Write raw bytes under `name`. */
  writeBytes(name: string, bytes: Uint8Array): Promise<void> | void;
  /** Write a numeric typed array under `name` (raw binary; dtype kept). */
  writeArray(name: string, array: NumericColumn): Promise<void> | void;
}

/** Where a frame is read from (a `LoadContext` fits). */
export interface FrameReader {
  /** `true` when a file `name` exists. */
  has(name: string): boolean;
  /** Parse file `name` as JSON. */
  readJson<T = unknown>(name: string): T;
  /** The bytes of file `name`. */
  readBytes(name: string): Uint8Array;
  /** The typed array written under `name`. */
  readArray(name: string): NumericColumn;
}

/**
 * Throw {@linkcode FrameError} unless `out` is an object with the writer `methods` a frame
 * codec calls (all three by default).
 */
export function checkWriter(
  action: string,
  out: unknown,
  methods: readonly (keyof FrameWriter)[] = ["writeJson", "writeBytes", "writeArray"],
): asserts out is FrameWriter {
  checkMethods(action, "out", "a FrameWriter", out, methods);
}

/** Throw {@linkcode FrameError} unless `input` is an object with the reader `methods` used. */
export function checkReader(
  action: string,
  input: unknown,
  methods: readonly (keyof FrameReader)[] = ["readJson", "readArray"],
): asserts input is FrameReader {
  checkMethods(action, "input", "a FrameReader", input, methods);
}

function checkMethods(
  action: string,
  name: string,
  what: string,
  value: unknown,
  methods: readonly string[],
): void {
  const bag = value as Record<string, unknown> | null;
  if (
    bag === null || (typeof bag !== "object" && typeof bag !== "function") ||
    methods.some((m) => typeof bag[m] !== "function")
  ) {
    throw new FrameError(
      action,
      `${name} must be ${what} (with ${methods.join(", ")} methods)`,
      { received: value },
    );
  }
}

function checkPrefix(action: string, prefix: unknown): void {
  if (typeof prefix !== "string") {
    throw new FrameError(action, "prefix must be a string (may be empty)", { received: prefix });
  }
}

const FORMAT = "spool.frame";
const VERSION = 1;

interface FrameHeader {
  format: string;
  version: number;
  length: number;
  columns: { name: string; kind: string; file?: string; values?: unknown }[];
}

/**
 * Write `frame` through `out` as `<prefix>frame.json` plus one `<prefix>c<j>` file per typed
 * column (and `<prefix>c<j>.<k>` per typed array nested in a plain column).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, readFrame, writeFrame } from "@spool/spool";
 *
 * const files = new Map<string, unknown>();
 * const out = {
 *   writeJson: (n: string, v: unknown) => void files.set(n, JSON.parse(JSON.stringify(v))),
 *   writeBytes: (n: string, b: Uint8Array) => void files.set(n, b.slice()),
 *   writeArray: (n: string, a: Float64Array) => void files.set(n, a.slice()),
 * };
 * await writeFrame(out, "f-", new Frame({ x: new Float64Array([1, 2]), s: ["a", "b"] }));
 * const back = readFrame({
 *   has: (n) => files.has(n),
 *   readJson: <T>(n: string) => files.get(n) as T,
 *   readBytes: (n) => files.get(n) as Uint8Array,
 *   readArray: (n) => files.get(n) as Float64Array,
 * }, "f-");
 * assert.ok(back.length === 2 && back.columns.s?.[1] === "b");
 * ```
 */
export async function writeFrame(out: FrameWriter, prefix: string, frame: Frame): Promise<void> {
  const action = "save a frame";
  checkWriter(action, out, ["writeJson", "writeArray"]);
  checkPrefix(action, prefix);
  if (!(frame instanceof Frame)) {
    throw new FrameError(action, "the value is not a Frame", { received: frame });
  }
  const pending: (Promise<void> | void)[] = [];
  const header: FrameHeader = {
    format: FORMAT,
    version: VERSION,
    length: frame.length,
    columns: [],
  };
  let j = 0;
  for (const [name, col] of Object.entries(frame.columns as Record<string, Column>)) {
    const kind = columnKind(col) as string;
    const file = `${prefix}c${j}`;
    if (kind === "plain") {
      let k = 0;
      const values = encodeValue(col, (arr) => {
        const f = `${file}.${k++}`;
        pending.push(out.writeArray(f, arr));
        return f;
      }, `column "${name}"`);
      header.columns.push({ name, kind, values });
    } else {
      pending.push(out.writeArray(file, col as NumericColumn));
      header.columns.push({ name, kind, file });
    }
    j++;
  }
  pending.push(out.writeJson(`${prefix}frame.json`, header));
  await Promise.all(pending);
}

/** Read a frame written by {@linkcode writeFrame} with the same `prefix`. */
export function readFrame(input: FrameReader, prefix: string): Frame {
  const action = "load a frame";
  checkReader(action, input);
  checkPrefix(action, prefix);
  const header = input.readJson<FrameHeader>(`${prefix}frame.json`);
  if (
    header?.format !== FORMAT || header.version !== VERSION || !Array.isArray(header.columns) ||
    !Number.isSafeInteger(header.length) || header.length < 0
  ) {
    throw new FrameError(
      action,
      `unsupported frame format (expected ${FORMAT} v${VERSION})`,
      { received: header },
    );
  }
  const cols: Record<string, Column> = {};
  for (let j = 0; j < header.columns.length; j++) {
    const c = header.columns[j]!;
    const bad = (reason: string, received: unknown, column?: string) =>
      new FrameError(action, `columns[${j}] ${reason}`, { column, received });
    if (c === null || typeof c !== "object") throw bad("must be an object", c);
    if (typeof c.name !== "string") throw bad("has no name", c.name);
    if (Object.hasOwn(cols, c.name)) throw bad(`repeats column "${c.name}"`, c.name, c.name);
    if (c.kind !== "plain" && ctorOfKind(c.kind) === undefined) {
      throw bad(`(column "${c.name}") has an unknown kind`, c.kind, c.name);
    }
    if (c.kind === "plain" && !Array.isArray(c.values)) {
      throw bad(`(column "${c.name}") has no values`, c.values, c.name);
    }
    if (c.kind !== "plain" && (typeof c.file !== "string" || c.file === "")) {
      throw bad(`(column "${c.name}") has no file`, c.file, c.name);
    }
    if (c.kind === "plain") {
      cols[c.name] = decodeValue(c.values, (f) => input.readArray(f)) as unknown[];
    } else {
      const arr = input.readArray(c.file as string);
      if (columnKind(arr) !== c.kind) {
        throw new FrameError(action, `column "${c.name}" was saved as ${c.kind}`, {
          column: c.name,
          received: arr,
        });
      }
      cols[c.name] = arr;
    }
  }
  const frame = new Frame(cols);
  if (frame.length !== header.length && header.columns.length > 0) {
    throw new FrameError(
      action,
      `the frame was saved with ${header.length} rows`,
      { received: frame.length },
    );
  }
  return frame;
}
