/** Sweep rows of the stream area (and `lengthOf`, `withLength`). */

import {
  batch,
  channel,
  filter,
  fromReadable,
  lengthOf,
  lines,
  map,
  merge,
  ndjson,
  prefetch,
  progress,
  tee,
  toNdjson,
  toReadable,
  withLength,
  writeNdjson,
  zip,
} from "../../mod.ts";
import {
  argCases,
  type Ctx,
  filePathCases,
  int,
  num,
  optionCases,
  returns,
  type Row,
  sourceCases,
  wrongTypes,
} from "./harness.ts";

const items = () => [1, 2, 3];
const quiet = { output: () => {} };

export const streamRows: Row[] = [
  {
    export: "prefetch",
    area: "stream",
    cases: [
      ...optionCases((o) => prefetch(items(), o as never), { size: int(1), signal: "signal" }, {
        size: 2,
      }),
      {
        name: "options: missing (size required)",
        run: () => prefetch(items(), undefined as never),
      },
      ...sourceCases((s) => prefetch(s as never, { size: 2 })),
    ],
  },
  {
    export: "batch",
    area: "stream",
    cases: [
      ...optionCases(
        (o) => batch(items(), o as never),
        { size: int(1), maxBytes: num(0, true), maxWaitMs: num(0, true), byteSize: "fn" },
        { size: 2 },
      ),
      { name: "options: {} (no limit)", run: () => batch(items(), {}) },
      ...sourceCases((s) => batch(s as never, { size: 2 })),
    ],
  },
  {
    export: "channel",
    area: "stream",
    cases: optionCases((o) => void channel(o as never), { capacity: int(0), signal: "signal" }, {
      capacity: 1,
    }),
  },
  {
    export: "map",
    area: "stream",
    cases: [
      ...optionCases(
        (o) => map(items(), (x) => x, o as never),
        { concurrency: int(1), ordered: "bool", signal: "signal" },
      ),
      ...wrongTypes("fn", (f) => map(items(), f as never)),
      ...sourceCases((s) => map(s as never, (x) => x)),
      ...sourceCases(
        (s) => map(s as never, (x) => x, { concurrency: 2 }),
        "source (concurrency 2)",
      ),
      {
        name: "fn throws: the user's error",
        ...(() => {
          const err = new Error("user error: fn");
          return {
            run: () =>
              map(items(), () => {
                throw err;
              }),
            expect: { user: err },
          };
        })(),
      },
    ],
  },
  {
    export: "filter",
    area: "stream",
    cases: [
      ...optionCases(
        (o) => filter(items(), () => true, o as never),
        { concurrency: int(1), ordered: "bool", signal: "signal" },
      ),
      ...wrongTypes("predicate", (f) => filter(items(), f as never)),
      ...sourceCases((s) => filter(s as never, () => true)),
    ],
  },
  {
    export: "tee",
    area: "stream",
    cases: [
      ...argCases("n", int(1), (n) => tee(items(), n as number, { capacity: 1 })),
      ...optionCases((o) => tee(items(), 1, o as never), { capacity: int(1) }, { capacity: 1 }),
      ...sourceCases((s) => tee(s as never, 1, { capacity: 1 })[0]),
    ],
  },
  {
    export: "merge",
    area: "stream",
    cases: sourceCases((s) => merge(items(), s as never)),
  },
  {
    export: "zip",
    area: "stream",
    cases: sourceCases((s) => zip(items(), s as never)),
  },
  {
    export: "lines",
    area: "stream",
    cases: [
      ...filePathCases((p) => lines(p as never)),
      ...optionCases(
        (o, ctx: Ctx) => lines(ctx.file, o as never),
        { follow: "bool", signal: "signal", encoding: "str", pollMs: num(1), chunkSize: int(1) },
      ),
      { name: "options.encoding: bogus", run: (ctx) => lines(ctx.file, { encoding: "bogus" }) },
    ],
  },
  {
    export: "ndjson",
    area: "stream",
    cases: [
      ...sourceCases((s) => ndjson(s as never)),
      { name: "line: {bad json", run: () => ndjson(["{bad json"]) },
      { name: "line: 42 (not a string)", run: () => ndjson([42 as never]) },
    ],
  },
  {
    export: "toNdjson",
    area: "stream",
    cases: [
      ...sourceCases((s) => toNdjson(s as never)),
      { name: "value: undefined", run: () => toNdjson([undefined]) },
      { name: "value: a bigint", run: () => toNdjson([1n]) },
      {
        name: "value: a cycle",
        run: () => {
          const a: Record<string, unknown> = {};
          a.a = a;
          return toNdjson([a]);
        },
      },
    ],
  },
  {
    export: "writeNdjson",
    area: "stream",
    cases: [
      { name: 'path: ""', run: () => writeNdjson("", items()) },
      { name: "path: 42", run: () => writeNdjson(42 as never, items()) },
      { name: "path: a directory", run: (ctx) => writeNdjson(ctx.dir, items()) },
      { name: "path: under a regular file", run: (ctx) => writeNdjson(ctx.underFile, items()) },
      { name: "path: in a missing directory", run: (ctx) => writeNdjson(ctx.missing, items()) },
      ...optionCases(
        (o, ctx) => writeNdjson(ctx.fresh("nd"), items(), o as never),
        { append: "bool", sync: "bool", signal: "signal" },
      ),
      ...sourceCases((s, ctx) => writeNdjson(ctx.fresh("nd"), s as never)),
      { name: "value: undefined", run: (ctx) => writeNdjson(ctx.fresh("nd"), [undefined]) },
    ],
  },
  {
    export: "fromReadable",
    area: "stream",
    cases: [
      ...wrongTypes("stream", (s) => fromReadable(s as never), [
        ["undefined", undefined],
        ["42", 42],
        ["an array", [1, 2]],
      ]),
      (() => {
        const err = new Error("user error: pull");
        return {
          name: "stream: pull() throws (the user's error)",
          run: () => fromReadable(new ReadableStream({ pull: () => Promise.reject(err) })),
          expect: { user: err },
        };
      })(),
    ],
  },
  {
    export: "toReadable",
    area: "stream",
    cases: [
      ...optionCases((o) => toReadable(items(), o as never), { highWaterMark: int(0) }),
      ...sourceCases((s) => toReadable(s as never)),
    ],
  },
  {
    export: "progress",
    area: "stream",
    cases: [
      ...optionCases(
        (o) => progress(items(), o as never),
        {
          total: int(0),
          label: "string",
          output: "fn",
          tty: "bool",
          intervalMs: num(0),
          now: "fn",
          barWidth: int(1),
        },
        quiet,
      ),
      ...sourceCases((s) => progress(s as never, quiet)),
    ],
  },
  {
    export: "withLength",
    area: "stream",
    cases: [
      ...argCases("length", int(0), (n) => withLength(items(), n as number)),
      ...wrongTypes("iterable", (i) => withLength(i as never, 3), [["42", 42], ["null", null]]),
    ],
  },
  {
    export: "lengthOf",
    area: "stream",
    note: "a query: any value is a valid input (undefined when the length is not known)",
    cases: [
      returns("source: 42", () => lengthOf(42)),
      returns("source: null", () => lengthOf(null)),
      returns("source: { length: NaN }", () => lengthOf({ length: NaN })),
    ],
  },
];
