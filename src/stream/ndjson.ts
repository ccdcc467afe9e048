/**
 * NDJSON helpers: parse lines to values, serialize values to lines, write them to a file.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { NdjsonParseError } from "./errors.ts";
import { abortError, checkOptions, checkSignal, closeQuietly, iteratorOf } from "./internal.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

async function* parseLines<T>(source: AnyIterable<string>): AsyncGenerator<T, void, undefined> {
  const it = iteratorOf("parse NDJSON", source);
  let line = 0;
  let finished = false;
  try {
    for (;;) {
      if (turnDue()) await giveTurn();
      const r = await it.next();
      if (r.done) {
        finished = true;
        return;
      }
      line++;
      const text = r.value;
      if (typeof text !== "string") {
        throw new InvalidArgumentError("parse NDJSON", `line ${line} is not a string`, text);
      }
      if (text.length === 0) continue;
      let value: T;
      try {
        value = JSON.parse(text);
      } catch (error) {
        if (text.trim() === "") continue; // a blank line (checked only when parsing failed)
        throw new NdjsonParseError(line, text, error);
      }
      yield value;
    }
  } finally {
    if (!finished) await it.return?.();
  }
}

/**
 * Parse NDJSON: each item of `source` is one line of JSON (as `lines(path)` yields them);
 * blank lines are skipped. A line that is not valid JSON throws {@linkcode NdjsonParseError}
 * naming its 1-based line number. An early `break` returns the source.
 *
 * @param source lines (sync or async iterable of strings)
 * @returns an async generator of parsed values
 * @throws {InvalidArgumentError} when `source` is a string or not iterable
 *
 * @example
 * ```ts
 * import { ndjson } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const values: unknown[] = [];
 * for await (const v of ndjson(['{"a":1}', "", "[2]"])) values.push(v);
 * assert.equal(JSON.stringify(values), '[{"a":1},[2]]');
 * ```
 */
export function ndjson<T = unknown>(
  source: AnyIterable<string>,
): AsyncGenerator<T, void, undefined> {
  if (typeof source === "string") {
    throw new InvalidArgumentError(
      "parse NDJSON",
      "the source must be an iterable of lines, not a string (use lines(path) for a file)",
      source,
    );
  }
  iteratorOf("parse NDJSON", source); // validate now rather than at the first next()
  return parseLines<T>(source);
}

function stringify(value: unknown, index: number): string {
  const text = JSON.stringify(value);
  if (text === undefined) {
    throw new InvalidArgumentError(
      "serialize NDJSON",
      `item ${index} has no JSON form`,
      value,
    );
  }
  return text;
}

async function* stringifyAll(
  source: AnyIterable<unknown>,
): AsyncGenerator<string, void, undefined> {
  let index = 0;
  for await (const value of source) {
    yield stringify(value, index++) + "\n";
    if (turnDue()) await giveTurn();
  }
}

/**
 * Serialize each value of `source` to one NDJSON line (with its `\n`). A value without a JSON
 * form (`undefined`, a function) throws `InvalidArgumentError` naming its index. Keeps `length`.
 *
 * @param source values (sync or async iterable)
 * @returns an async generator of lines, each ending with `\n`
 *
 * @example
 * ```ts
 * import { toNdjson } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * let text = "";
 * for await (const line of toNdjson([{ a: 1 }, [2]])) text += line;
 * assert.equal(text, '{"a":1}\n[2]\n');
 * ```
 */
export function toNdjson(source: AnyIterable<unknown>): AsyncGenerator<string, void, undefined> {
  iteratorOf("serialize NDJSON", source);
  return withLength(stringifyAll(source), lengthOf(source));
}

/** Options of {@linkcode writeNdjson}. */
export interface WriteNdjsonOptions {
  /** Append to the file instead of replacing it (default false). */
  append?: boolean;
  /** fsync the file before closing it (default false). */
  sync?: boolean;
  /** Aborting it stops writing (what was written stays) with `AbortedError`. */
  signal?: AbortSignal;
}

/**
 * Write the values of `source` to `path` as NDJSON, one line per value, in buffered writes.
 * The file is closed in every case. Resolves with the number of values written.
 *
 * @param path the file to write
 * @param source values (sync or async iterable)
 * @param options `append`, `sync`, `signal`
 * @returns the number of values written
 *
 * @example
 * ```ts
 * import { lines, ndjson, writeNdjson } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * const n = await writeNdjson(path, [{ t: 1 }, { t: 2 }]);
 * const back: unknown[] = [];
 * for await (const v of ndjson(lines(path))) back.push(v);
 * assert.equal(n, 2);
 * assert.equal(back.length, 2);
 * await Deno.remove(path);
 * ```
 */
export async function writeNdjson(
  path: string | URL,
  source: AnyIterable<unknown>,
  options?: WriteNdjsonOptions,
): Promise<number> {
  const action = "write NDJSON";
  if (typeof path !== "string" && !(path instanceof URL)) {
    throw new InvalidArgumentError(action, "path must be a string or a file URL", path);
  }
  const o = checkOptions<WriteNdjsonOptions>(action, options);
  const signal = checkSignal(action, o.signal);
  const it = iteratorOf(action, source);
  const append = o.append ?? false;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, create: true, append, truncate: !append });
  } catch (error) {
    await closeQuietly(it); // the source is returned on every failure, this one too
    throw error;
  }
  const encoder = new TextEncoder();
  let pending = "";
  let count = 0;
  let finished = false;
  const flush = async () => {
    if (pending.length === 0) return;
    const bytes = encoder.encode(pending);
    pending = "";
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
  };
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(action, signal);
      const r = await it.next();
      if (r.done) {
        finished = true;
        break;
      }
      pending += stringify(r.value, count) + "\n";
      count++;
      if (pending.length >= 65536) await flush();
    }
    await flush();
    if (o.sync) await file.sync();
    return count;
  } catch (error) {
    try {
      await flush(); // keep the records before the failure
    } catch { /* the first error is the one reported */ }
    throw error;
  } finally {
    try {
      if (!finished) await it.return?.();
    } finally {
      file.close();
    }
  }
}
