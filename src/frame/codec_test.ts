import assert from "node:assert/strict";
import { type FrameReader, readFrame, writeFrame } from "./codec.ts";
import { Frame } from "./frame.ts";
import { FrameError } from "./errors.ts";
import { InvalidArgumentError } from "../errors.ts";
import { ERROR_FORM as FORM, memoryStore } from "../../tests/frame_helpers.ts";

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
});

Deno.test("writeFrame: a plain value that cannot be saved names its column and row", async () => {
  const bad = memoryStore();
  await assert.rejects(
    () => writeFrame(bad.out, "", new Frame({ f: [() => 1] })),
    /column "f"\[0\] cannot be saved/,
  );
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
