/**
 * The bad-input sweep's machinery: a case is one call of an export with one bad input; the
 * runner asserts that it fails with a typed `SpoolError` whose message reads
 * `Cannot <action>: <reason>, received <value>` (or with the user's own error, unchanged or as
 * `cause`), within a time limit, and never resolves silently.
 *
 * Generators build the usual families of cases (options, numbers, sources, paths) from a short
 * description, so a table row stays a few lines.
 *
 * @module
 */

import { describe, SpoolError } from "../../src/errors.ts";

/** The message form every spool error must have. */
export const MESSAGE_FORM = /^Cannot [^:]+: .+, received .+/s;

/** Generous per-case limit: a case still pending after this is reported as a hang. */
export const CASE_LIMIT_MS = 5000;

/** Limit of each cleanup (close a pool, stop a run) registered by a case. */
export const CLEANUP_LIMIT_MS = 4000;

/** What a case may use: the shared temp dir, a signal aborted on timeout, cleanups. */
export interface Ctx {
  /** A shared temporary directory (exists, writable). */
  readonly dir: string;
  /** A regular file inside `dir` (a file where a directory is expected). */
  readonly file: string;
  /** A path under a regular file (its parent is a file: unwritable, uncreatable). */
  readonly underFile: string;
  /** A path that does not exist (in a directory that does not exist). */
  readonly missing: string;
  /** A fresh path inside `dir` that does not exist yet (unique per call). */
  fresh(name?: string): string;
  /** Aborted when the case times out: pass it where the export takes a signal. */
  readonly signal: AbortSignal;
  /** Register a cleanup (pools, stores, loops, runs): run after the case, last first. */
  defer(cleanup: () => unknown): void;
}

/** What a case expects. */
export type Expect =
  /** A SpoolError subclass (optionally a given class) with the message form. */
  | SpoolExpect
  /** The user's own error: the very object, or a SpoolError of the message form with it as cause. */
  | { user: unknown }
  /** A total function: the call returns (does not throw, does not hang). */
  | { returns: true };

/** A SpoolError subclass (optionally a given class) with the message form. */
export interface SpoolExpect {
  spool: true;
  class?: abstract new (...args: never[]) => SpoolError;
  message?: RegExp;
}

/** One bad input of one export. */
export interface Case {
  /** The input, as a short label: `size: 0`, `options: 42`, `source: next() throws`. */
  name: string;
  /** Make the call and consume what it returns (iterate a stage, await a promise). */
  run(ctx: Ctx): unknown;
  /** Default: `{ spool: true }`. */
  expect?: Expect;
}

/** The row of one export of mod.ts. */
export interface Row {
  /** The export's name in mod.ts. */
  export: string;
  /** Its area (stream, state, frame, loop, pool, native, pipeline, errors). */
  area: string;
  /** The bad inputs. An export without input (or a total function) says why in `note`. */
  cases: Case[];
  /** Why an export has no failing input (e.g. `nativeStatus()` takes no argument). */
  note?: string;
}

const SPOOL: Expect = { spool: true };

// ---- the shared temp dir ----

const root = Deno.makeTempDirSync({ prefix: "spool-sweep-" });
const regularFile = `${root}/a-file`;
Deno.writeTextFileSync(regularFile, "not a directory\n");
let counter = 0;
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(root, { recursive: true });
  } catch { /* already gone */ }
});

// ---- consuming what a call returns ----

/** Iterate (at most `max` items), await, or read a stream: whatever the value is. */
export async function consume(value: unknown, max = 1000): Promise<unknown> {
  let v = value;
  if (v !== null && typeof (v as PromiseLike<unknown>)?.then === "function") v = await v;
  if (v instanceof ReadableStream) {
    const reader = v.getReader();
    try {
      for (let i = 0; i < max; i++) if ((await reader.read()).done) break;
    } finally {
      reader.releaseLock();
      await v.cancel().catch(() => {});
    }
    return v;
  }
  if (v !== null && (typeof v === "object" || typeof v === "function")) {
    const o = v as Record<symbol, unknown>;
    if (typeof o[Symbol.asyncIterator] === "function" || typeof o[Symbol.iterator] === "function") {
      if (typeof v === "string") return v;
      let n = 0;
      for await (const _ of v as AsyncIterable<unknown>) if (++n >= max) break;
    }
  }
  return v;
}

// ---- running a case ----

function fail(name: string, what: string): never {
  throw new Error(`sweep case "${name}": ${what}`);
}

function checkSpool(name: string, error: unknown, expect: SpoolExpect): void {
  if (!(error instanceof SpoolError)) {
    const e = error as { name?: string; message?: string };
    fail(
      name,
      `expected a SpoolError, got ${
        error instanceof Error ? `${e.name}: ${e.message}` : `a thrown ${describe(error)}`
      }`,
    );
  }
  if (!MESSAGE_FORM.test(error.message)) {
    fail(
      name,
      `${error.name} message is not "Cannot <action>: <reason>, received <value>": ${
        JSON.stringify(error.message)
      }`,
    );
  }
  if (expect.class && !(error instanceof expect.class)) {
    const e = error as SpoolError;
    fail(name, `expected ${expect.class.name}, got ${e.name}: ${e.message}`);
  }
  if (expect.message && !expect.message.test(error.message)) {
    fail(name, `message does not match ${expect.message}: ${JSON.stringify(error.message)}`);
  }
}

/** Run one case: throws (failing the test) unless it fails as expected in time. */
export async function runCase(name: string, c: Case): Promise<void> {
  const expect = c.expect ?? SPOOL;
  const controller = new AbortController();
  const cleanups: (() => unknown)[] = [];
  const ctx: Ctx = {
    dir: root,
    file: regularFile,
    underFile: `${regularFile}/below`,
    missing: `${root}/no-such-dir/no-such-file`,
    fresh: (n = "p") => `${root}/${n}-${++counter}`,
    signal: controller.signal,
    defer: (fn) => void cleanups.push(fn),
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"hang">((resolve) => {
    timer = setTimeout(() => resolve("hang"), CASE_LIMIT_MS);
  });
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | "hang";
  try {
    const attempt = (async () => {
      try {
        return { ok: true as const, value: await consume(c.run(ctx)) };
      } catch (error) {
        return { ok: false as const, error };
      }
    })();
    outcome = await Promise.race([attempt, timeout]);
    if (outcome === "hang") controller.abort(new Error(`sweep case "${name}" timed out`));
  } finally {
    clearTimeout(timer);
  }
  // Cleanups are bounded too: a close or stop that never settles is reported, not waited for.
  let stuck: string | undefined;
  for (const cleanup of cleanups.reverse()) {
    let t: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<"stuck">((
      resolve,
    ) => (t = setTimeout(() => resolve("stuck"), CLEANUP_LIMIT_MS)));
    try {
      const r = await Promise.race([
        Promise.resolve().then(cleanup).then(() => "ok", () => "ok"),
        limit,
      ]);
      if (r === "stuck") {
        stuck ??= `cleanup ${describe(cleanup)} still pending after ${CLEANUP_LIMIT_MS} ms`;
      }
    } finally {
      clearTimeout(t);
    }
  }
  if (outcome === "hang") {
    fail(name, `hang: still pending after ${CASE_LIMIT_MS} ms${stuck ? `; ${stuck}` : ""}`);
  }
  if (stuck) fail(name, stuck);
  if ("returns" in expect) {
    if (!outcome.ok) {
      const e = outcome.error as { name?: string; message?: string };
      fail(name, `expected to return, threw ${e?.name}: ${e?.message}`);
    }
    return;
  }
  if (outcome.ok) fail(name, `accepted: resolved with ${describe(outcome.value)}`);
  const error = outcome.error;
  if ("user" in expect) {
    if (error === expect.user) return;
    if (error instanceof SpoolError && (error as { cause?: unknown }).cause === expect.user) {
      checkSpool(name, error, { spool: true });
      return;
    }
    const e = error as { name?: string; message?: string };
    fail(
      name,
      `expected the user's error (or a SpoolError with it as cause), got ${e?.name}: ${e?.message}`,
    );
  }
  checkSpool(name, error, expect as SpoolExpect);
}

// ---- generators ----

/** A user error, for cases where it must pass through. */
export function userError(label = "boom"): Error {
  return new Error(`user error: ${label}`);
}

/** A source whose `next()` throws synchronously. */
export function nextThrows(error: unknown): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        throw error;
      },
    }),
  };
}

/** A source whose `next()` rejects. */
export function nextRejects(error: unknown): AsyncIterable<unknown> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }) };
}

/**
 * How many times a broken source returns its bad result before it ends: a consumer that
 * accepts 42 as a result then finishes (an acceptance the runner reports) instead of spinning
 * on microtasks forever, which no timer could interrupt.
 */
const BAD_RESULTS = 3;

/** A source whose `next()` resolves to 42 (not an iterator result), then ends. */
export function nextResolves42(): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]: () => {
      let n = 0;
      return {
        next: () =>
          Promise.resolve(
            (n++ < BAD_RESULTS ? 42 : { done: true, value: undefined }) as IteratorResult<unknown>,
          ),
      };
    },
  };
}

/** A sync iterable whose `next()` returns 42, then ends. */
export function syncNextReturns42(): Iterable<unknown> {
  return {
    [Symbol.iterator]: () => {
      let n = 0;
      return {
        next: () =>
          (n++ < BAD_RESULTS ? 42 : { done: true, value: undefined }) as IteratorResult<unknown>,
      };
    },
  };
}

/**
 * The broken-source family for an export that reads `source`: not iterable, `next()` throws,
 * rejects, resolves to 42 (async and sync). `call(source, ctx)` makes the call.
 */
export function sourceCases(
  call: (source: unknown, ctx: Ctx) => unknown,
  label = "source",
): Case[] {
  const thrown = userError("next() throws");
  const rejected = userError("next() rejects");
  return [
    { name: `${label}: 42 (not iterable)`, run: (ctx) => call(42, ctx) },
    { name: `${label}: null`, run: (ctx) => call(null, ctx) },
    {
      name: `${label}: next() throws synchronously`,
      run: (ctx) => call(nextThrows(thrown), ctx),
      expect: { user: thrown },
    },
    {
      name: `${label}: next() rejects`,
      run: (ctx) => call(nextRejects(rejected), ctx),
      expect: { user: rejected },
    },
    { name: `${label}: next() resolves to 42`, run: (ctx) => call(nextResolves42(), ctx) },
    { name: `${label}: sync next() returns 42`, run: (ctx) => call(syncNextReturns42(), ctx) },
  ];
}

/** How a field (option or argument) must look. */
export type Kind =
  | { int: number } // an integer >= min
  | { num: number; above?: boolean } // a finite number >= min (> min with `above`)
  | "bool"
  | "fn"
  | "str" // a non-empty string
  | "string" // any string, "" included
  | "signal"
  | { oneOf: readonly (string | number | boolean)[] }
  | "object";

/** Integer field, `>= min`. */
export const int = (min: number): Kind => ({ int: min });
/** Finite number field, `>= min` (or `> min`). */
export const num = (min: number, above = false): Kind => ({ num: min, above });
/** One of fixed values. */
export const oneOf = (...values: (string | number | boolean)[]): Kind => ({ oneOf: values });

/** The bad values of a kind, labelled. */
export function badValues(kind: Kind): [string, unknown][] {
  if (typeof kind === "object" && "int" in kind) {
    const out: [string, unknown][] = [
      ['"1"', "1"],
      [String(kind.int - 1), kind.int - 1],
      ["1.5", 1.5],
      ["NaN", NaN],
      ["Infinity", Infinity],
    ];
    if (kind.int - 1 !== -1) out.push(["-1", -1]);
    return out;
  }
  if (typeof kind === "object" && "num" in kind) {
    const out: [string, unknown][] = [
      ['"1"', "1"],
      ["NaN", NaN],
      ["Infinity", Infinity],
      ["-Infinity", -Infinity],
    ];
    if (kind.above) out.push([String(kind.num), kind.num]);
    out.push([String(kind.num - 1), kind.num - 1]);
    return out;
  }
  if (typeof kind === "object" && "oneOf" in kind) return [['"bogus"', "bogus"], ["42", 42]];
  switch (kind) {
    case "bool":
      return [['"yes"', "yes"], ["1", 1]];
    case "fn":
      return [["42", 42], ['"f"', "f"]];
    case "str":
      return [['""', ""], ["42", 42]];
    case "string":
      return [["42", 42], ["true", true]];
    case "signal":
      return [["{}", {}], ['"signal"', "signal"]];
    case "object":
      return [["42", 42], ['"x"', "x"]];
  }
}

/**
 * The options family: `options` not an object (42, "x", an array), an unknown key, and each
 * field's bad values. `call(options, ctx)` makes the call; `base` are valid options the bad
 * field is added to.
 */
export function optionCases(
  call: (options: unknown, ctx: Ctx) => unknown,
  fields: Record<string, Kind>,
  base: Record<string, unknown> = {},
  label = "options",
): Case[] {
  const out: Case[] = [
    { name: `${label}: 42`, run: (ctx) => call(42, ctx) },
    { name: `${label}: "x"`, run: (ctx) => call("x", ctx) },
    { name: `${label}: unknown key sizee`, run: (ctx) => call({ ...base, sizee: 1 }, ctx) },
  ];
  for (const [key, kind] of Object.entries(fields)) {
    for (const [shown, value] of badValues(kind)) {
      out.push({
        name: `${label}.${key}: ${shown}`,
        run: (ctx) => call({ ...base, [key]: value }, ctx),
      });
    }
  }
  return out;
}

/** Bad values for one positional argument: `call(value, ctx)`. */
export function argCases(
  label: string,
  kind: Kind,
  call: (value: unknown, ctx: Ctx) => unknown,
): Case[] {
  return badValues(kind).map(([shown, value]) => ({
    name: `${label}: ${shown}`,
    run: (ctx: Ctx) => call(value, ctx),
  }));
}

/** Wrong-type values for a positional argument that must be a particular object. */
export function wrongTypes(
  label: string,
  call: (value: unknown, ctx: Ctx) => unknown,
  values: [string, unknown][] = [["undefined", undefined], ["42", 42], ['"x"', "x"], ["{}", {}]],
): Case[] {
  return values.map(([shown, value]) => ({
    name: `${label}: ${shown}`,
    run: (ctx: Ctx) => call(value, ctx),
  }));
}

/**
 * The path family for an export that takes a path to a directory it creates or writes:
 * empty string, not a string, a file where a directory is expected, a path under a file.
 */
export function dirPathCases(call: (path: unknown, ctx: Ctx) => unknown, label = "path"): Case[] {
  return [
    { name: `${label}: ""`, run: (ctx) => call("", ctx) },
    { name: `${label}: 42`, run: (ctx) => call(42, ctx) },
    { name: `${label}: a regular file`, run: (ctx) => call(ctx.file, ctx) },
    { name: `${label}: under a regular file`, run: (ctx) => call(ctx.underFile, ctx) },
  ];
}

/** The path family for an export that reads a file: empty, not a string, missing, a directory. */
export function filePathCases(
  call: (path: unknown, ctx: Ctx) => unknown,
  label = "path",
): Case[] {
  return [
    { name: `${label}: ""`, run: (ctx) => call("", ctx) },
    { name: `${label}: 42`, run: (ctx) => call(42, ctx) },
    { name: `${label}: missing`, run: (ctx) => call(ctx.missing, ctx) },
    { name: `${label}: a directory`, run: (ctx) => call(ctx.dir, ctx) },
    { name: `${label}: under a regular file`, run: (ctx) => call(ctx.underFile, ctx) },
  ];
}

/** A case expecting a value to be returned (total functions). */
export function returns(name: string, run: (ctx: Ctx) => unknown): Case {
  return { name, run, expect: { returns: true } };
}
