import assert from "node:assert/strict";
import * as arrow from "npm:apache-arrow@19";
import {
  arrowAdapter,
  byteSize,
  columnKind,
  concat,
  Frame,
  frameAdapter,
  FrameError,
  type FrameReader,
  type FrameWriter,
  plainColumnBytes,
  readFrame,
  writeFrame,
} from "./mod.ts";
import { InvalidArgumentError } from "../errors.ts";

function memoryStore(): { out: FrameWriter; input: FrameReader; files: Map<string, unknown> } {
  const files = new Map<string, unknown>();
  return {
    files,
    out: {
      writeJson: (n, v) => void files.set(n, JSON.stringify(v)),
      writeBytes: (n, b) => void files.set(n, b.slice()),
      writeArray: (n, a) => void files.set(n, a.slice()),
    },
    input: {
      has: (n) => files.has(n),
      readJson: <T>(n: string) => JSON.parse(files.get(n) as string) as T,
      readBytes: (n) => files.get(n) as Uint8Array,
      readArray: (n) => files.get(n) as Float64Array,
    },
  };
}

Deno.test("Frame: validates column kinds and equal lengths, naming the column", () => {
  assert.throws(
    () => new Frame({ a: new Float64Array(2), b: new Int8Array(3) }),
    (e: unknown) => e instanceof FrameError && e.column === "b" && /length 3/.test(e.message),
  );
  assert.throws(
    () => new Frame({ a: new Float64Array(2), bad: "xy" as unknown as string[] }),
    (e: unknown) => e instanceof FrameError && e.column === "bad",
  );
  assert.throws(
    () => new Frame({ v: new DataView(new ArrayBuffer(8)) as unknown as Uint8Array }),
    (e: unknown) => e instanceof FrameError && e.column === "v",
  );
  assert.throws(() => new Frame(null as unknown as Record<string, never>), FrameError);
  const empty = new Frame({});
  assert.equal(empty.length, 0);
  assert.equal(empty.byteSize, 0);
});

Deno.test("Frame: every numeric kind, bigint included, and plain columns", () => {
  const f = new Frame({
    i8: new Int8Array(3),
    u8: new Uint8Array(3),
    c8: new Uint8ClampedArray(3),
    i16: new Int16Array(3),
    u16: new Uint16Array(3),
    i32: new Int32Array(3),
    u32: new Uint32Array(3),
    f32: new Float32Array(3),
    f64: new Float64Array(3),
    i64: new BigInt64Array(3),
    u64: new BigUint64Array(3),
    s: ["a", "bb", "ccc"],
  });
  assert.equal(f.length, 3);
  assert.equal(f.kindOf("i64"), "bigint64");
  assert.equal(f.kindOf("s"), "plain");
  assert.throws(() => f.kindOf("nope" as "s"), FrameError);
  const typed = 3 * (1 + 1 + 1 + 2 + 2 + 4 + 4 + 4 + 8 + 8 + 8);
  assert.equal(byteSize(f), typed + plainColumnBytes(["a", "bb", "ccc"]));
  assert.equal(plainColumnBytes(["a", "bb", "ccc"]), 3 * 8 + 3 * 16 + 2 * 6);
  assert.throws(() => byteSize({} as Frame), FrameError);
});

Deno.test("concat: exact values, one typed array per column, bytes additive", () => {
  const a = new Frame({
    x: new Float64Array([1, 2]),
    n: new BigInt64Array([1n, 2n]),
    s: ["a", "b"],
  });
  const b = new Frame({ s: ["c"], x: new Float64Array([3]), n: new BigInt64Array([3n]) });
  const c = concat([a, b]);
  assert.deepEqual([...c.columns.x], [1, 2, 3]);
  assert.deepEqual([...c.columns.n], [1n, 2n, 3n]);
  assert.deepEqual(c.columns.s, ["a", "b", "c"]);
  assert.ok(c.columns.x instanceof Float64Array);
  assert.deepEqual(c.names, ["x", "n", "s"]);
  assert.equal(c.byteSize, a.byteSize + b.byteSize);
  assert.equal(concat([a]), a);
  // concat copies: mutating the source afterwards does not change the result
  a.columns.x[0] = 99;
  assert.equal(c.columns.x[0], 1);
});

Deno.test("concat: mismatched columns or dtypes are FrameErrors naming the column", () => {
  const base = new Frame({ x: new Float64Array(1), y: new Int32Array(1) });
  const cases: [Frame, string][] = [
    [new Frame({ x: new Float64Array(1), y: new Float32Array(1) }), "y"],
    [new Frame({ x: new Float64Array(1) }), "y"],
    [new Frame({ x: new Float64Array(1), y: new Int32Array(1), z: [1] }), "z"],
    [new Frame({ x: [1], y: new Int32Array(1) }), "x"],
  ];
  for (const [other, column] of cases) {
    assert.throws(
      () => concat([base, other]),
      (e: unknown) => e instanceof FrameError && e.column === column,
      column,
    );
  }
  assert.throws(() => concat([]), FrameError);
  assert.throws(() => concat([base, {} as Frame]), FrameError);
});

Deno.test("slice shares typed memory and copies plain columns", () => {
  const f = new Frame({ x: new Float64Array([1, 2, 3]), s: ["a", "b", "c"] });
  const s = f.slice(1);
  assert.equal(s.length, 2);
  assert.equal(s.columns.x.buffer, f.columns.x.buffer);
  assert.deepEqual(s.columns.s, ["b", "c"]);
});

Deno.test("columnKind recognises kinds and refuses the rest", () => {
  assert.equal(columnKind(new Float64Array(1)), "float64");
  assert.equal(columnKind([]), "plain");
  assert.equal(columnKind(new DataView(new ArrayBuffer(1))), undefined);
  assert.equal(columnKind("x"), undefined);
  class Sub extends Float32Array {}
  assert.equal(columnKind(new Sub(1)), "float32");
});

Deno.test("writeFrame/readFrame round-trip typed, bigint and plain (nested) columns", async () => {
  const { out, input, files } = memoryStore();
  const f = new Frame({
    x: new Float64Array([1.5, NaN]),
    n: new BigUint64Array([2n ** 63n, 1n]),
    o: [{ a: 1, t: new Int16Array([7]), b: 5n }, null],
    s: ["é", "z"],
  });
  await writeFrame(out, "p-", f);
  assert.ok(files.has("p-frame.json") && files.has("p-c0") && files.has("p-c2.0"));
  const back = readFrame(input, "p-");
  assert.deepEqual(back.names, f.names);
  assert.ok(Object.is(back.columns.x![1], NaN));
  assert.deepEqual([...back.columns.n as BigUint64Array], [2n ** 63n, 1n]);
  const o = back.columns.o as { a: number; t: Int16Array; b: bigint }[];
  assert.equal(o[0]?.t[0], 7);
  assert.equal(o[0]?.b, 5n);
  assert.deepEqual(back.columns.s, ["é", "z"]);
  const bad = memoryStore();
  await assert.rejects(
    () => writeFrame(bad.out, "", new Frame({ f: [() => 1] })),
    /column "f"\[0\] cannot be saved/,
  );
});

Deno.test("frameAdapter measures, concatenates and persists Frames", async () => {
  const a = new Frame({ v: new Float64Array(4) });
  assert.equal(frameAdapter.byteSize(a), 32);
  assert.equal(frameAdapter.concat([a, a]).length, 8);
  assert.ok(frameAdapter.accepts?.(a) && !frameAdapter.accepts?.({}));
  const { out, input } = memoryStore();
  await frameAdapter.save?.(a, out);
  assert.equal(frameAdapter.load?.(input).length, 4);
});

Deno.test("arrowAdapter: byteSize, concat with schema check, IPC round trip", async () => {
  const adapter = arrowAdapter(arrow);
  assert.equal(adapter.name, "arrow");
  const a = arrow.tableFromArrays({ v: new Float64Array([1, 2]), s: ["x", "y"] });
  const b = arrow.tableFromArrays({ v: new Float64Array([3]), s: ["z"] });
  assert.ok(adapter.accepts?.(a) && !adapter.accepts?.(new Frame({})));
  const expected = a.data.reduce((n, d) => n + d.byteLength, 0);
  assert.ok(expected > 16);
  assert.equal(adapter.byteSize(a), expected);
  const c = adapter.concat([a, b]);
  assert.equal(c.numRows, 3);
  assert.deepEqual([...c.getChild("v")!.toArray()], [1, 2, 3]);
  assert.equal(adapter.byteSize(c), adapter.byteSize(a) + adapter.byteSize(b));
  const wrong = arrow.tableFromArrays({ v: new Int32Array([3]), s: ["z"] });
  assert.throws(
    () => adapter.concat([a, wrong]),
    (e: unknown) => e instanceof FrameError && e.column === "v",
  );
  const fewer = arrow.tableFromArrays({ v: new Float64Array([3]) });
  assert.throws(
    () => adapter.concat([a, fewer]),
    (e: unknown) => e instanceof FrameError && e.column === "s",
  );
  assert.throws(() => adapter.byteSize({} as typeof a), FrameError);
  const { out, input } = memoryStore();
  await adapter.save?.(c, out);
  const back = adapter.load?.(input);
  assert.equal(back?.numRows, 3);
  assert.deepEqual([...back!.getChild("s")!.toArray()], ["x", "y", "z"]);
  assert.throws(() => arrowAdapter({} as typeof arrow), FrameError);
});

const FORM = /^Cannot [^:]+: .+, received .+/s;

Deno.test("slice: indices must be integers with 0 <= start <= end <= length", () => {
  const f = new Frame({ x: new Float64Array([1, 2, 3]) });
  assert.equal(f.slice(3).length, 0); // an empty tail is in range
  assert.equal(f.slice(1, 1).length, 0);
  for (const args of [[NaN], [1.5], [-1], [4], [0, 4], [2, 1], [0, Infinity], ["1"]]) {
    assert.throws(
      () => f.slice(...(args as [number, number])),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /^Cannot slice a frame: /.test(e.message),
      `slice(${args.join(", ")})`,
    );
  }
});

Deno.test("plainColumnBytes: a value that is not an Array is a FrameError", () => {
  for (const v of [undefined, 42, "abc", new Float64Array(2), { length: 2 }]) {
    assert.throws(
      () => plainColumnBytes(v as never),
      (e: unknown) => e instanceof FrameError && FORM.test(e.message),
    );
  }
});

Deno.test("frameAdapter: a non-Frame and a bad writer/reader are FrameErrors, not TypeErrors", async () => {
  for (const v of [undefined, 42, {}]) {
    assert.throws(() => frameAdapter.byteSize(v as never), FrameError);
    await assert.rejects(
      async () => await frameAdapter.save!(new Frame({}), v as never),
      FrameError,
    );
    assert.throws(() => frameAdapter.load!(v as never), FrameError);
  }
});

Deno.test("writeFrame/readFrame: bad out, input, prefix and header are FrameErrors", async () => {
  const { out, input } = memoryStore();
  const f = new Frame({ x: new Float64Array([1, 2]) });
  await assert.rejects(() => writeFrame({} as never, "", f), FrameError);
  await assert.rejects(() => writeFrame(out, 42 as never, f), FrameError);
  assert.throws(() => readFrame({} as never, ""), FrameError);
  assert.throws(() => readFrame(input, undefined as never), FrameError);
  const reader = (columns: unknown, length = 2): FrameReader => ({
    has: () => true,
    readJson: <T>() => ({ format: "spool.frame", version: 1, length, columns }) as T,
    readBytes: () => new Uint8Array(0),
    readArray: () => new Float64Array(2),
  });
  const bad: [unknown, number?][] = [
    [[{ name: 42, kind: "float64", file: "c0" }]],
    [[{ name: "a", kind: "float64", file: "c0" }, { name: "a", kind: "float64", file: "c1" }]],
    [[{ name: "a", kind: "float99", file: "c0" }]],
    [[{ name: "a", kind: "float64" }]],
    [[{ name: "a", kind: "plain", values: 42 }]],
    [[42]],
    [[], -1],
    // plain values with a malformed tag (they used to be SyntaxErrors or TypeErrors)
    [[{ name: "a", kind: "plain", values: [{ $spool: "bigint", v: "12abc" }, 1] }]],
    [[{ name: "a", kind: "plain", values: [{ $spool: "map", v: 42 }, 1] }]],
    [[{ name: "a", kind: "plain", values: [{ $spool: "set", v: "x" }, 1] }]],
    [[{ name: "a", kind: "plain", values: [{ $spool: "num", v: "12" }, 1] }]],
  ];
  for (const [columns, length] of bad) {
    assert.throws(
      () => readFrame(reader(columns, length), ""),
      (e: unknown) =>
        (e instanceof FrameError || e instanceof InvalidArgumentError) && FORM.test(e.message),
      JSON.stringify(columns),
    );
  }
});

Deno.test("arrowAdapter: Table must be a class, every table is checked, mismatches say what was received", async () => {
  assert.throws(() => arrowAdapter({ ...arrow, Table: 42 } as never), FrameError);
  const adapter = arrowAdapter(arrow);
  assert.throws(() => adapter.concat([42 as never]), FrameError);
  const a = arrow.tableFromArrays({ v: new Float64Array([1]) });
  const wrong = arrow.tableFromArrays({ v: new Int32Array([3]) });
  assert.throws(
    () => adapter.concat([a, wrong]),
    (e: unknown) =>
      e instanceof FrameError && e.column === "v" && FORM.test(e.message) &&
      /received "v: Int32"/.test(e.message),
  );
  await assert.rejects(async () => await adapter.save!(42 as never, memoryStore().out), FrameError);
  assert.throws(() => adapter.load!({} as never), FrameError);
});
