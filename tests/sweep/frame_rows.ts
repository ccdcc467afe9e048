/** Sweep rows of the frame area (and `byteSizeOf`). */

import {
  arrowAdapter,
  type ArrowTableLike,
  byteSize,
  byteSizeOf,
  columnKind,
  concat,
  Frame,
  frameAdapter,
  type FrameReader,
  type FrameWriter,
  plainColumnBytes,
  readFrame,
  writeFrame,
} from "../../mod.ts";
import { FrameError } from "../../mod.ts";
import { type Case, returns, type Row, userError, wrongTypes } from "./harness.ts";

const frameError = { spool: true, class: FrameError } as const;
const f2 = () => new Frame({ x: new Float64Array([1, 2]), s: ["a", "b"] });

/** A structural stand-in for an Apache Arrow table (no download of apache-arrow here). */
class FakeTable implements ArrowTableLike {
  readonly data = [{ byteLength: 8 }];
  readonly schema: ArrowTableLike["schema"];
  constructor(readonly numRows: number, fields: [string, string][]) {
    this.schema = { fields: fields.map(([name, type]) => ({ name, type })) };
  }
  concat(..._others: ArrowTableLike[]): ArrowTableLike {
    return this;
  }
}
const fakeArrow = {
  tableToIPC: (_t: FakeTable) => new Uint8Array(0),
  tableFromIPC: (_b: Uint8Array) => new FakeTable(0, []),
  Table: FakeTable,
};
const t = (fields: [string, string][] = [["v", "Float64"]]) => new FakeTable(1, fields);

/** An in-memory writer/reader pair (what a state store context provides). */
function memory(): { out: FrameWriter; input: FrameReader; files: Map<string, unknown> } {
  const files = new Map<string, unknown>();
  return {
    files,
    out: {
      writeJson: (n, v) => void files.set(n, JSON.parse(JSON.stringify(v))),
      writeBytes: (n, b) => void files.set(n, b.slice()),
      writeArray: (n, a) => void files.set(n, a.slice()),
    },
    input: {
      has: (n) => files.has(n),
      readJson: <T>(n: string) => files.get(n) as T,
      readBytes: (n) => files.get(n) as Uint8Array,
      readArray: (n) => files.get(n) as Float64Array,
    },
  };
}

/** A reader whose frame.json is `header` (arrays are Float64Array(2)). */
function readerWith(header: unknown): FrameReader {
  return {
    has: () => true,
    readJson: <T>() => header as T,
    readBytes: () => new Uint8Array(0),
    readArray: () => new Float64Array(2),
  };
}
const header = (columns: unknown, length = 2) => ({
  format: "spool.frame",
  version: 1,
  length,
  columns,
});

function headerCases(): Case[] {
  const cases: [string, unknown][] = [
    ["header: 42", 42],
    ["header: another format", { format: "x", version: 1, length: 0, columns: [] }],
    ["header.columns: 42", header(42)],
    ["header.columns[0]: 42", header([42])],
    ["header.columns[0].name: 42", header([{ name: 42, kind: "float64", file: "c0" }])],
    [
      "header.columns[0].name: duplicate",
      header([
        { name: "a", kind: "float64", file: "c0" },
        { name: "a", kind: "float64", file: "c1" },
      ]),
    ],
    ["header.columns[0].kind: float99", header([{ name: "a", kind: "float99", file: "c0" }])],
    ["header.columns[0].file: missing", header([{ name: "a", kind: "float64" }])],
    ["header.columns[0].values: 42 (plain)", header([{ name: "a", kind: "plain", values: 42 }])],
    ["header.length: -1", header([{ name: "a", kind: "float64", file: "c0" }], -1)],
    ["header.length: 3 (rows differ)", header([{ name: "a", kind: "float64", file: "c0" }], 3)],
    ...([
      ["bigint", { $spool: "bigint", v: "12abc" }],
      ["num", { $spool: "num", v: "12" }],
      ["map", { $spool: "map", v: 42 }],
      ["set", { $spool: "set", v: "x" }],
      ["date", { $spool: "date", v: "today" }],
      ["array", { $spool: "array" }],
      ["obj", { $spool: "obj", v: 42 }],
    ] as const).map(([tag, value]): [string, unknown] => [
      `header.columns[0].values[0]: a malformed "${tag}" value`,
      header([{ name: "a", kind: "plain", values: [value, 1] }]),
    ]),
    [
      "header.columns[0].kind: int32 (file holds float64)",
      header([
        { name: "a", kind: "int32", file: "c0" },
      ]),
    ],
  ];
  return cases.map(([name, h]) => ({ name, run: () => readFrame(readerWith(h), "") }));
}

export const frameRows: Row[] = [
  {
    export: "Frame",
    area: "frame",
    cases: [
      ...wrongTypes("columns", (c) => new Frame(c as never), [
        ["undefined", undefined],
        ["null", null],
        ["42", 42],
        ['"x"', "x"],
        ["an array", [new Float64Array(1)]],
      ]).map((c) => ({ ...c, expect: frameError })),
      { name: "column: 42", run: () => new Frame({ a: 42 as never }), expect: frameError },
      { name: 'column: "abc"', run: () => new Frame({ a: "abc" as never }), expect: frameError },
      {
        name: "column: a DataView",
        run: () => new Frame({ a: new DataView(new ArrayBuffer(8)) as never }),
        expect: frameError,
      },
      {
        name: "columns: unequal lengths",
        run: () => new Frame({ a: new Float64Array(2), b: [1] }),
        expect: frameError,
      },
      { name: 'kindOf("nope")', run: () => f2().kindOf("nope" as never), expect: frameError },
      { name: "kindOf(42)", run: () => f2().kindOf(42 as never), expect: frameError },
      ...([
        ["slice(NaN)", [NaN]],
        ["slice(1.5)", [1.5]],
        ['slice("1")', ["1"]],
        ["slice(-1)", [-1]],
        ["slice(3) (past the end)", [3]],
        ["slice(0, 3) (past the end)", [0, 3]],
        ["slice(2, 1) (end before start)", [2, 1]],
        ["slice(0, Infinity)", [0, Infinity]],
      ] as [string, unknown[]][]).map(([name, args]): Case => ({
        name,
        run: () => f2().slice(...(args as [number, number])),
      })),
    ],
  },
  {
    export: "FrameError",
    area: "frame",
    cases: [
      {
        name: "constructed with a column and a value",
        run: () => {
          throw new FrameError("build a frame", "bad column", { column: "a", received: 42 });
        },
        expect: frameError,
      },
    ],
  },
  {
    export: "byteSize",
    area: "frame",
    cases: wrongTypes("frame", (f) => byteSize(f as never)).map((c) => ({
      ...c,
      expect: frameError,
    })),
  },
  {
    export: "columnKind",
    area: "frame",
    note: "a query: undefined for anything that is not a column",
    cases: [
      returns("value: 42", () => columnKind(42)),
      returns("value: null", () => columnKind(null)),
      returns("value: a DataView", () => columnKind(new DataView(new ArrayBuffer(1)))),
    ],
  },
  {
    export: "plainColumnBytes",
    area: "frame",
    cases: wrongTypes("column", (c) => plainColumnBytes(c as never), [
      ["undefined", undefined],
      ["42", 42],
      ['"abc"', "abc"],
      ["a Float64Array", new Float64Array(2)],
      ["{ length: 2 }", { length: 2 }],
    ]),
  },
  {
    export: "byteSizeOf",
    area: "frame",
    note: "an estimate of any value: total",
    cases: [
      returns("value: 42", () => byteSizeOf(42)),
      returns("value: a cycle", () => {
        const a: unknown[] = [];
        a.push(a);
        return byteSizeOf(a);
      }),
      returns("value: { byteSize: NaN }", () => byteSizeOf({ byteSize: NaN })),
      (() => {
        const err = userError("byteSize()");
        return {
          name: "value: a byteSize() that throws (the user's error)",
          run: () =>
            byteSizeOf({
              byteSize() {
                throw err;
              },
            }),
          expect: { user: err },
        };
      })(),
    ],
  },
  {
    export: "concat",
    area: "frame",
    cases: [
      ...wrongTypes("frames", (f) => concat(f as never), [
        ["undefined", undefined],
        ["42", 42],
        ["[]", []],
        ["[42]", [42]],
        ["[frame, 42]", [f2(), 42]],
      ]),
      {
        name: "frames: a missing column",
        run: () => concat([f2(), new Frame({ x: new Float64Array(1) })] as never),
      },
      {
        name: "frames: an extra column",
        run: () => concat([new Frame({ x: new Float64Array(1) }), f2()] as never),
      },
      {
        name: "frames: a column of another kind",
        run: () =>
          concat(
            [new Frame({ x: new Float64Array(1) }), new Frame({ x: new Int32Array(1) })] as never,
          ),
      },
    ].map((c) => ({ ...c, expect: frameError })),
  },
  {
    export: "arrowAdapter",
    area: "frame",
    cases: [
      ...wrongTypes("arrow", (a) => arrowAdapter(a as never), [
        ["undefined", undefined],
        ["42", 42],
        ["{}", {}],
        ["{ tableToIPC: 42, ... }", { ...fakeArrow, tableToIPC: 42 }],
        ["{ Table: 42, ... }", { ...fakeArrow, Table: 42 }],
      ]),
      ...wrongTypes("byteSize(table)", (x) => arrowAdapter(fakeArrow).byteSize(x as never)),
      ...wrongTypes("concat(tables)", (x) => arrowAdapter(fakeArrow).concat(x as never), [
        ["undefined", undefined],
        ["42", 42],
        ["[]", []],
        ["[42]", [42]],
        ["[table, 42]", [t(), 42]],
      ]),
      {
        name: "concat(tables): another field type",
        run: () => arrowAdapter(fakeArrow).concat([t(), t([["v", "Int32"]])]),
      },
      {
        name: "concat(tables): a missing field",
        run: () => arrowAdapter(fakeArrow).concat([t([["v", "Float64"], ["w", "Utf8"]]), t()]),
      },
      ...wrongTypes("save(table)", (x) => arrowAdapter(fakeArrow).save!(x as never, memory().out)),
    ].map((c) => ({ ...c, expect: c.expect ?? frameError })),
  },
  {
    export: "frameAdapter",
    area: "frame",
    cases: [
      ...wrongTypes("byteSize(frame)", (x) => frameAdapter.byteSize(x as never)),
      ...wrongTypes("concat(frames)", (x) => frameAdapter.concat(x as never)),
      ...wrongTypes("save(frame)", (x) => frameAdapter.save!(x as never, memory().out)),
      ...wrongTypes("save(frame, out)", (x) => frameAdapter.save!(f2(), x as never)),
      ...wrongTypes("load(input)", (x) => frameAdapter.load!(x as never)),
      {
        name: "load(input): nothing saved",
        run: () => frameAdapter.load!(memory().input),
      },
    ].map((c) => ({ ...c, expect: frameError })),
  },
  {
    export: "writeFrame",
    area: "frame",
    cases: [
      ...wrongTypes("out", (x) => writeFrame(x as never, "", f2()), [
        ["undefined", undefined],
        ["42", 42],
        ["{}", {}],
      ]),
      ...wrongTypes("prefix", (x) => writeFrame(memory().out, x as never, f2()), [
        ["42", 42],
        ["undefined", undefined],
      ]),
      ...wrongTypes("frame", (x) => writeFrame(memory().out, "", x as never)),
      {
        name: "frame: a plain column holding a function",
        run: () => writeFrame(memory().out, "", new Frame({ f: [() => 1] })),
      },
      (() => {
        const err = userError("writeArray");
        return {
          name: "out.writeArray rejects (the user's error)",
          run: () =>
            writeFrame({ ...memory().out, writeArray: () => Promise.reject(err) }, "", f2()),
          expect: { user: err },
        };
      })(),
      (() => {
        const err = userError("writeJson");
        return {
          name: "out.writeJson throws (the user's error)",
          run: () =>
            writeFrame(
              {
                ...memory().out,
                writeJson: () => {
                  throw err;
                },
              },
              "",
              f2(),
            ),
          expect: { user: err },
        };
      })(),
    ],
  },
  {
    export: "readFrame",
    area: "frame",
    cases: [
      ...wrongTypes("input", (x) => readFrame(x as never, ""), [
        ["undefined", undefined],
        ["42", 42],
        ["{}", {}],
      ]),
      ...wrongTypes("prefix", (x) => readFrame(memory().input, x as never), [
        ["42", 42],
        ["undefined", undefined],
      ]),
      { name: "input: nothing saved", run: () => readFrame(memory().input, "") },
      ...headerCases(),
      (() => {
        const err = userError("readJson");
        return {
          name: "input.readJson throws (the user's error)",
          run: () =>
            readFrame({
              ...memory().input,
              readJson: () => {
                throw err;
              },
            }, ""),
          expect: { user: err },
        };
      })(),
    ],
  },
];
