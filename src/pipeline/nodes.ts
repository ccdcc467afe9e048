/**
 * Ready-made node functions, sources and sinks (PaPy's `util.func` helpers, typed).
 *
 * @module
 */

import { assertInteger, InvalidArgumentError } from "../errors.ts";
import { optionalFunction, optionsOf } from "../_internal/options.ts";
import { lines, type LinesOptions } from "../stream/lines.ts";
import { ndjson } from "../stream/ndjson.ts";
import { closeIterator, iteratorOf, nextOf, resultOf } from "../_internal/iterate.ts";
import { FileAccessError, fileAccessError } from "../stream/errors.ts";

/**
 * A node function returning its `index`-th input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { passInput, Pipeline } from "@spool/spool";
 *
 * const p = new Pipeline();
 * p.source("a");
 * p.source("b");
 * p.node("second", { inputs: ["a", "b"], fn: passInput(1) });
 * const { outputs } = await p.runToCompletion({ a: [1, 2], b: ["x", "y"] });
 * assert.deepEqual(outputs.second, ["x", "y"]);
 * ```
 */
export function passInput(index = 0): (...inputs: unknown[]) => unknown {
  assertInteger("create a passInput node", "index", index, 0);
  return (...inputs) => inputs[index];
}

/**
 * A node function returning the inputs at `indices`, as an array, in that order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectInputs } from "@spool/spool";
 *
 * assert.deepEqual(selectInputs(2, 0)("a", "b", "c"), ["c", "a"]);
 * ```
 */
export function selectInputs(...indices: number[]): (...inputs: unknown[]) => unknown[] {
  for (const i of indices) assertInteger("create a selectInputs node", "index", i, 0);
  return (...inputs) => indices.map((i) => inputs[i]);
}

/**
 * A node function returning all its inputs as one array (a zip of the inputs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zipInputs } from "@spool/spool";
 *
 * assert.deepEqual(zipInputs()(1, "a"), [1, "a"]);
 * ```
 */
export function zipInputs(): (...inputs: unknown[]) => unknown[] {
  return (...inputs) => inputs;
}

/**
 * A node function joining its inputs (strings) with `separator`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinInputs } from "@spool/spool";
 *
 * assert.equal(joinInputs("-")("a", "b"), "a-b");
 * ```
 */
export function joinInputs(separator = ""): (...inputs: unknown[]) => string {
  if (typeof separator !== "string") {
    throw new InvalidArgumentError("create a joinInputs node", "separator must be a string", {
      received: separator,
    });
  }
  return (...inputs) => inputs.join(separator);
}

/**
 * `value` as JSON text, or an {@linkcode InvalidArgumentError} when it has none (undefined, a
 * function, a symbol, a BigInt, a cycle). An error thrown by the value's own `toJSON` passes
 * through unchanged.
 */
/** @internal Also the encoder of the loader's ndjson and stdout sinks. */
export function jsonText(action: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    // JSON.stringify's own refusals are TypeErrors naming a BigInt or a circular structure.
    if (error instanceof TypeError && /BigInt|circular/i.test(error.message)) {
      throw new InvalidArgumentError(
        action,
        `the value has no JSON form (${error.message})`,
        { received: value, cause: error },
      );
    }
    throw error;
  }
  if (text === undefined) {
    throw new InvalidArgumentError(action, "the value has no JSON form", { received: value });
  }
  return text;
}

/** A node function encoding its input as JSON text. */
export function jsonEncode(): (value: unknown) => string {
  return (value) => jsonText("encode JSON", value);
}

/** A node function decoding JSON text. */
export function jsonDecode(): (text: string) => unknown {
  return (text) => {
    const action = "decode JSON";
    if (typeof text !== "string") {
      throw new InvalidArgumentError(action, "the input must be a string of JSON text", {
        received: text,
      });
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new InvalidArgumentError(
        action,
        `the text is not JSON (${(error as Error).message})`,
        { received: text, cause: error },
      );
    }
  };
}

/** The items of `source` after the first `n` (the file is closed when the reader stops). */
async function* skip<T>(
  action: string,
  source: AsyncIterable<T>,
  n: number,
): AsyncGenerator<T, void, undefined> {
  const it = iteratorOf(action, source);
  let finished = false;
  try {
    for (let i = 0;; i++) {
      const r = resultOf<T>(action, await nextOf(it));
      if (r.done) {
        finished = true;
        return;
      }
      if (i >= n) yield r.value;
    }
  } finally {
    if (!finished) await closeIterator(it);
  }
}

/** The position a resumable source is called with: an integer >= 0. */
function positionOf(action: string, position: unknown): number {
  return assertInteger(action, "position", position, 0);
}

function withSignal(options: LinesOptions | undefined, signal: AbortSignal | undefined) {
  if (signal === undefined) return options;
  const own = options?.signal;
  return { ...options, signal: own ? AbortSignal.any([own, signal]) : signal };
}

/**
 * A resumable source of the lines of a text file (`follow` waits for appended lines). Pass it
 * to `run` as the source's input: it is called with the position to resume at, and the file is
 * closed when the run stops reading the source.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineSource, Pipeline } from "@spool/spool";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "a\nb\nc\n");
 * const p = new Pipeline();
 * p.source("lines");
 * p.node("up", { inputs: ["lines"], fn: (s: string) => s.toUpperCase() });
 * const { outputs } = await p.runToCompletion({ lines: lineSource(path) });
 * assert.deepEqual(outputs.up, ["A", "B", "C"]);
 * // A resumed run calls the source with its position: it skips what was read.
 * const rest: string[] = [];
 * for await (const line of lineSource(path)(2)) rest.push(line);
 * assert.deepEqual(rest, ["c"]);
 * await Deno.remove(path);
 * ```
 */
export function lineSource(
  path: string | URL,
  options?: LinesOptions,
): (position: number, context?: { signal?: AbortSignal }) => AsyncIterable<string> {
  return (position, context) => {
    const action = "read a line source";
    const n = positionOf(action, position);
    return skip(action, lines(path, withSignal(options, context?.signal)), n);
  };
}

/**
 * A resumable source of the values of an NDJSON file (blank lines skipped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ndjsonSource, Pipeline } from "@spool/spool";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '{"v":1}\n\n{"v":2}\n');
 * const p = new Pipeline();
 * p.source("rows");
 * const { outputs } = await p.runToCompletion({ rows: ndjsonSource(path) });
 * assert.deepEqual(outputs.rows, [{ v: 1 }, { v: 2 }]);
 * await Deno.remove(path);
 * ```
 */
export function ndjsonSource(
  path: string | URL,
  options?: LinesOptions,
): (position: number, context?: { signal?: AbortSignal }) => AsyncIterable<unknown> {
  return (position, context) => {
    const action = "read an NDJSON source";
    const n = positionOf(action, position);
    return skip(action, ndjson(lines(path, withSignal(options, context?.signal))), n);
  };
}

/** Options of {@linkcode fileSink}. */
export interface FileSinkOptions {
  /** Text of an item (default `JSON.stringify`). */
  encode?: (item: unknown) => string;
  /** File name extension (default `".json"`). */
  extension?: string;
}

/**
 * An idempotent sink consumer for `runToCompletion({sinks})`: writes each item to
 * `<dir>/<seq, 12 digits><extension>` through a temporary file and a rename, so an item
 * delivered again after a resume overwrites the same file (outputs exactly once). The rename
 * makes each file all-or-nothing across a process crash (no fsync: not across power loss).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileSink, Pipeline } from "@spool/spool";
 *
 * const dir = await Deno.makeTempDir();
 * const p = new Pipeline();
 * p.source("s");
 * p.node("sq", { inputs: ["s"], fn: (x: number) => ({ x, sq: x * x }) });
 * await p.runToCompletion({ s: [1, 2, 3] }, { sinks: { sq: fileSink(dir) } });
 * assert.ok(await Deno.readTextFile(`${dir}/000000000002.json`) === '{"x":3,"sq":9}');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function fileSink(
  dir: string,
  options: FileSinkOptions = {},
): (item: unknown, info: { seq: number }) => Promise<void> {
  if (typeof dir !== "string" || dir === "") {
    throw new InvalidArgumentError("create a file sink", "dir must be a non-empty string", {
      received: dir,
    });
  }
  const action = "create a file sink";
  const o = optionsOf(action, options, ["encode", "extension"]);
  const encode = optionalFunction<(item: unknown) => string>(action, "encode", o.encode);
  if (o.extension !== undefined && typeof o.extension !== "string") {
    throw new InvalidArgumentError(action, "extension must be a string", { received: o.extension });
  }
  const ext = (o.extension as string | undefined) ?? ".json";
  if (/[/\\\0]/.test(ext)) {
    throw new InvalidArgumentError(
      action,
      "extension must not contain a path separator or NUL (files stay inside dir)",
      { received: ext },
    );
  }
  let made = false;
  return async (item, info) => {
    const write = "write a sink item";
    const seq = assertInteger(write, "seq", (info as { seq?: unknown } | undefined)?.seq, 0);
    let text: unknown;
    if (encode === undefined) text = jsonText(write, item);
    else {
      text = encode(item);
      if (typeof text !== "string") {
        throw new InvalidArgumentError(write, "encode must return a string", { received: text });
      }
    }
    if (!made) {
      try {
        await Deno.mkdir(dir, { recursive: true });
      } catch (error) {
        throw error instanceof Deno.errors.AlreadyExists
          ? new FileAccessError(action, "the path is a file, not a directory", dir, error)
          : fileAccessError(action, dir, error);
      }
      made = true;
    }
    const name = `${dir}/${String(seq).padStart(12, "0")}${ext}`;
    const tmp = `${name}.tmp-${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.writeTextFile(tmp, text as string);
      await Deno.rename(tmp, name);
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      throw fileAccessError(write, name, error);
    }
  };
}
