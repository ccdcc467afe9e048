import assert from "node:assert/strict";
import { byteSize, columnKind, concat, Frame, plainColumnBytes } from "./frame.ts";
import { FrameError } from "./errors.ts";
import { InvalidArgumentError } from "../errors.ts";
import { ERROR_FORM as FORM } from "../../tests/frame_helpers.ts";

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
