/**
 * Options of every stream function, as a table: an unknown key (a typo) is refused with the list
 * of known keys, a non-object is refused, and a wrong type is named. A new options object is
 * covered by adding one row.
 */
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../src/errors.ts";
import {
  batch,
  channel,
  filter,
  fromReadable,
  map,
  merge,
  ndjson,
  prefetch,
  progress,
  tee,
  toNdjson,
  toReadable,
  writeNdjson,
  zip,
} from "../src/stream/mod.ts";

interface Row {
  name: string;
  /** Call the function with `options` (it may throw or return a rejected promise). */
  call(options: unknown): unknown;
  /** Options that are accepted. */
  valid: Record<string, unknown>;
  /** The known keys, in the order the message lists them. */
  known: string[];
  /** Wrong values: each `[key, value, pattern of the message]`. */
  bad: [string, unknown, RegExp][];
  /** `undefined` options are fine (false when some option is required). */
  optional: boolean;
  /**
   * Options follow a variable number of sources (merge, zip): only a plain object in last place
   * is read as options; anything else there is a (bad) source, so the non-object checks differ.
   */
  variadic?: boolean;
}

const missing = "/nonexistent/spool-options/never-created.ndjson";
const out = Deno.makeTempFileSync({ prefix: "spool-options-", suffix: ".ndjson" });
const signal = ["signal", "not a signal", /signal must be an AbortSignal/] as [
  string,
  unknown,
  RegExp,
];

const rows: Row[] = [
  {
    name: "prefetch",
    call: (o) => prefetch([1], o as never),
    valid: { size: 1 },
    known: ["size", "signal"],
    bad: [["size", "2", /size/], signal],
    optional: false,
  },
  {
    name: "batch",
    call: (o) => batch([1], o as never),
    valid: { size: 1 },
    known: ["size", "maxBytes", "maxWaitMs", "byteSize", "signal"],
    bad: [
      ["size", 0, /size/],
      ["maxBytes", "1", /maxBytes/],
      ["maxWaitMs", -1, /maxWaitMs/],
      ["byteSize", 5, /byteSize must be a function/],
      signal,
    ],
    optional: false,
  },
  {
    name: "map",
    call: (o) => map([1], (x) => x, o as never),
    valid: {},
    known: ["concurrency", "ordered", "signal"],
    bad: [
      ["concurrency", 1.5, /concurrency/],
      ["ordered", "yes", /ordered must be a boolean/],
      signal,
    ],
    optional: true,
  },
  {
    name: "filter",
    call: (o) => filter([1], () => true, o as never),
    valid: {},
    known: ["concurrency", "ordered", "signal"],
    bad: [["concurrency", 0, /concurrency/], ["ordered", 1, /ordered must be a boolean/], signal],
    optional: true,
  },
  {
    name: "channel",
    call: (o) => channel(o as never),
    valid: { capacity: 1 },
    known: ["capacity", "signal"],
    bad: [["capacity", -1, /capacity/], signal],
    optional: false,
  },
  {
    name: "tee",
    call: (o) => tee([1], 2, o as never),
    valid: { capacity: 1 },
    known: ["capacity", "signal"],
    bad: [["capacity", 0, /capacity/], signal],
    optional: false,
  },
  {
    name: "merge",
    call: (o) => merge([1], o as never),
    valid: {},
    known: ["signal"],
    bad: [signal],
    optional: true,
    variadic: true,
  },
  {
    name: "zip",
    call: (o) => zip([1], o as never),
    valid: {},
    known: ["signal"],
    bad: [signal],
    optional: true,
    variadic: true,
  },
  {
    name: "ndjson",
    call: (o) => ndjson(["1"], o as never),
    valid: {},
    known: ["signal"],
    bad: [signal],
    optional: true,
  },
  {
    name: "toNdjson",
    call: (o) => toNdjson([1], o as never),
    valid: {},
    known: ["signal"],
    bad: [signal],
    optional: true,
  },
  {
    name: "writeNdjson",
    call: (o) => writeNdjson(out, [1], o as never),
    valid: {},
    known: ["append", "sync", "signal"],
    bad: [
      ["append", "yes", /append must be a boolean/],
      ["sync", 1, /sync must be a boolean/],
      signal,
    ],
    optional: true,
  },
  {
    name: "fromReadable",
    call: (o) => fromReadable(new ReadableStream(), o as never),
    valid: {},
    known: ["signal"],
    bad: [signal],
    optional: true,
  },
  {
    name: "toReadable",
    call: (o) => toReadable([1], o as never),
    valid: {},
    known: ["highWaterMark", "signal"],
    bad: [["highWaterMark", -1, /highWaterMark/], signal],
    optional: true,
  },
  {
    name: "progress",
    call: (o) => progress([1], o as never),
    valid: { output: () => {} },
    known: ["total", "label", "output", "tty", "intervalMs", "now", "barWidth", "signal"],
    bad: [
      ["total", -1, /total/],
      ["label", 3, /label must be a string/],
      ["output", "stderr", /output must be a function/],
      ["tty", "yes", /tty must be a boolean/],
      ["intervalMs", -5, /intervalMs/],
      ["now", 1, /now must be a function/],
      ["barWidth", 0, /barWidth/],
      signal,
    ],
    optional: true,
  },
];

/** The error of `call()`, thrown or as a rejection; fails when there is none. */
async function errorOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error, got none");
}

function assertInvalid(error: unknown, pattern: RegExp | string): void {
  assert.ok(error instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${error}`);
  if (typeof pattern === "string") assert.ok(error.message.includes(pattern), error.message);
  else assert.match(error.message, pattern);
}

/** Dispose of what a valid call returned (so no stage is left open). */
async function dispose(result: unknown): Promise<void> {
  const r = await result;
  if (r instanceof ReadableStream) await r.cancel();
  else if (Array.isArray(r)) { for (const s of r) await s.return?.(); }
  else if (r !== null && typeof r === "object" && "return" in r) {
    await (r as AsyncIterator<unknown>).return!();
  }
}

for (const row of rows) {
  Deno.test(`options: ${row.name}: an unknown key is refused with the known ones`, async () => {
    const error = await errorOf(() => row.call({ ...row.valid, tpyo: 1 }));
    assertInvalid(error, `unknown option "tpyo" (known: ${row.known.join(", ")})`);
    // Two typos are both named.
    const two = await errorOf(() => row.call({ ...row.valid, tpyo: 1, sgnal: 2 }));
    assertInvalid(two, 'unknown options "tpyo", "sgnal"');
  });

  Deno.test(`options: ${row.name}: a non-object is refused`, async () => {
    if (row.variadic) {
      // In last place, a non-object is read as one more source, and refused as one.
      for (const bad of [null, 5, "size"]) {
        assertInvalid(await errorOf(() => row.call(bad)), /source/);
      }
      return;
    }
    for (const bad of [null, 5, "size"]) {
      assertInvalid(await errorOf(() => row.call(bad)), /options must be an object/);
    }
    if (!row.optional) assertInvalid(await errorOf(() => row.call(undefined)), /must|required/);
  });

  Deno.test(`options: ${row.name}: wrong types are named`, async () => {
    for (const [key, value, pattern] of row.bad) {
      assertInvalid(await errorOf(() => row.call({ ...row.valid, [key]: value })), pattern);
    }
  });

  Deno.test(`options: ${row.name}: the valid options (and every known key) are accepted`, async () => {
    await dispose(row.call(row.valid));
    if (row.optional && !row.variadic) await dispose(row.call(undefined));
    // Every known key set to undefined is accepted (it is a known key, not a typo).
    const all = Object.fromEntries(row.known.map((k) => [k, undefined]));
    if (row.optional) await dispose(row.call(all));
  });
}

Deno.test("options: merge/zip read only a plain, non-iterable last argument as options", async () => {
  // A class instance that is not iterable is a bad source, not options.
  assert.throws(() => merge([1], new Date() as never), InvalidArgumentError, "iterable");
  assert.throws(() => zip([1], new Map([[1, 2]]).keys(), new Date() as never), /iterable/);
  // A plain object that is iterable is a source.
  const iterable = {
    *[Symbol.iterator]() {
      yield 7;
    },
  };
  const got: unknown[] = [];
  for await (const x of merge(iterable)) got.push(x);
  assert.deepEqual(got, [7]);
  // With options and several sources.
  const ctl = new AbortController();
  const both: number[] = [];
  for await (const [a, b] of zip([1, 2], [3, 4], { signal: ctl.signal })) both.push(a + b);
  assert.deepEqual(both, [4, 6]);
});

Deno.test("options: writeNdjson refuses bad options before it creates the file", async () => {
  await assert.rejects(
    writeNdjson(missing, [1], { tpyo: true } as never),
    InvalidArgumentError,
    'unknown option "tpyo"',
  );
  await assert.rejects(Deno.stat(missing), Deno.errors.NotFound);
});

Deno.test("options: teardown", async () => {
  await Deno.remove(out);
});
