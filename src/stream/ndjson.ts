/**
 * NDJSON helpers: parse lines to values, serialize values to lines, write them to a file.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { fileAccessError, NdjsonParseError } from "./errors.ts";
import { optionalBoolean } from "../_internal/options.ts";
import { AbortLink, checkSignal } from "../_internal/abort.ts";
import { checkOptions } from "../_internal/options.ts";
import { closeIterator, closeQuietly, iteratorOf, nextOf, resultOf } from "../_internal/iterate.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

/** Options of {@linkcode ndjson} and {@linkcode toNdjson}. */
export interface NdjsonOptions {
  /**
   * Aborting it ends the iteration with `AbortedError` (even while the source's `next()` is
   * pending) and returns the source without waiting for it.
   */
  signal?: AbortSignal;
}

// How a loop over its source stands, to close the source the way `for await` would: a source
// that ended or broke (threw, gave a non-object) is not returned; one left open is returned
// (awaited when the consumer stopped, quietly when another error is on its way, without waiting
// after an abort, since its pending next() may never settle).
const OPEN = 0;
const ENDED = 1;
const BROKE = 2;
const ABORTED = 3;

/** Pull the next result through `link`, recording in `at.state` how the source ended. */
async function pull<T>(
  action: string,
  it: AsyncIterator<T>,
  link: AbortLink,
  at: { state: number },
): Promise<IteratorResult<T>> {
  link.throwIfAborted();
  let r: IteratorResult<T>;
  try {
    r = resultOf<T>(action, await link.race(nextOf(it)));
  } catch (error) {
    at.state = link.aborted ? ABORTED : BROKE;
    throw error;
  }
  if (r.done) at.state = ENDED;
  return r;
}

/** Close the source after a loop, per `at.state` (see OPEN). `failing`: an error is on its way. */
async function closeAfter(
  it: AsyncIterator<unknown>,
  link: AbortLink,
  at: { state: number },
  failing: boolean,
): Promise<void> {
  link.detach();
  if (at.state === ABORTED || (at.state === OPEN && link.aborted)) void closeQuietly(it);
  else if (at.state === OPEN) await (failing ? closeQuietly(it) : closeIterator(it));
}

async function* parseLines<T>(
  it: AsyncIterator<string>,
  link: AbortLink,
): AsyncGenerator<T, void, undefined> {
  const at = { state: OPEN };
  let line = 0;
  let failing = false;
  try {
    for (;;) {
      if (turnDue()) await giveTurn();
      const r = await pull("parse NDJSON", it, link, at);
      if (r.done) return;
      line++;
      const text = r.value;
      if (typeof text !== "string") {
        throw new InvalidArgumentError("parse NDJSON", `line ${line} is not a string`, {
          received: text,
        });
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
  } catch (error) {
    failing = true;
    throw error;
  } finally {
    await closeAfter(it, link, at, failing);
  }
}

/**
 * Parse NDJSON: each item of `source` is one line of JSON (as `lines(path)` yields them);
 * blank lines are skipped. A line that is not valid JSON throws {@linkcode NdjsonParseError}
 * naming its 1-based line number. An early `break` returns the source.
 *
 * @param source lines (sync or async iterable of strings)
 * @param options optional `signal`
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
  options?: NdjsonOptions,
): AsyncGenerator<T, void, undefined> {
  const action = "parse NDJSON";
  const o = checkOptions<NdjsonOptions>(action, options, ["signal"]);
  const signal = checkSignal(action, o.signal);
  if (typeof source === "string") {
    throw new InvalidArgumentError(
      "parse NDJSON",
      "the source must be an iterable of lines, not a string (use lines(path) for a file)",
      { received: source },
    );
  }
  // Opened now (once), so a bad source is refused here rather than at the first next().
  const it = iteratorOf(action, source);
  return parseLines<T>(it, new AbortLink(action, signal));
}

function stringify(value: unknown, index: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    // A bigint or a cycle (the engine's TypeError) is the caller's bad input: typed, naming the
    // item and where in it. Anything else (a toJSON of the user's that threw) passes unchanged.
    const found = noJsonForm(value, "", new Set());
    if (found === undefined) throw error;
    throw new InvalidArgumentError(
      "serialize NDJSON",
      `item ${index} has no JSON form: ${found.what}${found.at ? ` at ${found.at}` : ""}`,
      { received: value, cause: error },
    );
  }
  if (text === undefined) {
    throw new InvalidArgumentError(
      "serialize NDJSON",
      `item ${index} has no JSON form`,
      { received: value },
    );
  }
  return text;
}

/**
 * Where `value` holds what JSON.stringify refuses (a bigint, a cycle), as a path from the item
 * (`.a[2]`, empty for the item itself), or `undefined`. Objects with a `toJSON` are not entered.
 */
function noJsonForm(
  value: unknown,
  at: string,
  ancestors: Set<object>,
): { what: string; at: string } | undefined {
  if (typeof value === "bigint") return { what: "a bigint", at };
  if (value === null || typeof value !== "object") return undefined;
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return undefined;
  if (ancestors.has(value)) return { what: "a cycle (the value contains itself)", at };
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const found = noJsonForm(value[i], `${at}[${i}]`, ancestors);
        if (found) return found;
      }
    } else {
      for (const key of Object.keys(value)) {
        const found = noJsonForm(
          (value as Record<string, unknown>)[key],
          /^[A-Za-z_$][\w$]*$/.test(key) ? `${at}.${key}` : `${at}[${JSON.stringify(key)}]`,
          ancestors,
        );
        if (found) return found;
      }
    }
  } finally {
    ancestors.delete(value);
  }
  return undefined;
}

async function* stringifyAll(
  it: AsyncIterator<unknown>,
  link: AbortLink,
): AsyncGenerator<string, void, undefined> {
  const at = { state: OPEN };
  let index = 0;
  let failing = false;
  try {
    for (;;) {
      const r = await pull("serialize NDJSON", it, link, at);
      if (r.done) return;
      yield stringify(r.value, index++) + "\n";
      if (turnDue()) await giveTurn();
    }
  } catch (error) {
    failing = true;
    throw error;
  } finally {
    await closeAfter(it, link, at, failing);
  }
}

/**
 * Serialize each value of `source` to one NDJSON line (with its `\n`). A value without a JSON
 * form (`undefined`, a function, a bigint, a cycle) throws `InvalidArgumentError` naming its index
 * (and, inside it, where the bigint or the cycle is); an error thrown by a value's own `toJSON`
 * passes through unchanged. Keeps `length`.
 *
 * @param source values (sync or async iterable)
 * @param options optional `signal`
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
export function toNdjson(
  source: AnyIterable<unknown>,
  options?: NdjsonOptions,
): AsyncGenerator<string, void, undefined> {
  const action = "serialize NDJSON";
  const o = checkOptions<NdjsonOptions>(action, options, ["signal"]);
  const signal = checkSignal(action, o.signal);
  const it = iteratorOf(action, source);
  return withLength(stringifyAll(it, new AbortLink(action, signal)), lengthOf(source));
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
 * @throws {FileAccessError} when the file cannot be opened (a missing parent directory, a
 *   directory, permission denied), naming the path; the source is returned
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
    throw new InvalidArgumentError(action, "path must be a string or a file URL", {
      received: path,
    });
  }
  const o = checkOptions<WriteNdjsonOptions>(action, options, ["append", "sync", "signal"]);
  const append = optionalBoolean(action, "append", o.append) ?? false;
  const sync = optionalBoolean(action, "sync", o.sync) ?? false;
  const signal = checkSignal(action, o.signal);
  const it = iteratorOf(action, source);
  const link = new AbortLink(action, signal);
  const at = { state: OPEN };
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, create: true, append, truncate: !append });
  } catch (error) {
    link.detach();
    await closeQuietly(it); // the source is returned on every failure, this one too
    throw fileAccessError(action, path, error);
  }
  const encoder = new TextEncoder();
  let pending = "";
  let count = 0;
  let failing = false;
  const flush = async () => {
    if (pending.length === 0) return;
    const bytes = encoder.encode(pending);
    pending = "";
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
  };
  try {
    for (;;) {
      const r = await pull(action, it, link, at);
      if (r.done) break;
      pending += stringify(r.value, count) + "\n";
      count++;
      if (pending.length >= 65536) await flush();
    }
    await flush();
    if (sync) await file.sync();
    return count;
  } catch (error) {
    failing = true;
    try {
      await flush(); // keep the records before the failure
    } catch { /* the first error is the one reported */ }
    throw error;
  } finally {
    try {
      await closeAfter(it, link, at, failing);
    } finally {
      file.close();
    }
  }
}
