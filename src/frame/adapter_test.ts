import assert from "node:assert/strict";
import * as arrow from "npm:apache-arrow@19";
import { arrowAdapter, frameAdapter } from "./adapter.ts";
import { Frame } from "./frame.ts";
import { FrameError } from "./errors.ts";
import { ERROR_FORM as FORM, memoryStore } from "../../tests/frame_helpers.ts";

Deno.test("frameAdapter measures, concatenates and persists Frames", async () => {
  const a = new Frame({ v: new Float64Array(4) });
  assert.equal(frameAdapter.byteSize(a), 32);
  assert.equal(frameAdapter.concat([a, a]).length, 8);
  assert.ok(frameAdapter.accepts?.(a) && !frameAdapter.accepts?.({}));
  const { out, input } = memoryStore();
  await frameAdapter.save?.(a, out);
  assert.equal(frameAdapter.load?.(input).length, 4);
});

Deno.test("arrowAdapter: byteSize counts the buffers, concat checks the schema column by column", () => {
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
});

Deno.test("arrowAdapter: a table saved through the IPC format loads back equal", async () => {
  const adapter = arrowAdapter(arrow);
  const a = arrow.tableFromArrays({ v: new Float64Array([1, 2]), s: ["x", "y"] });
  const b = arrow.tableFromArrays({ v: new Float64Array([3]), s: ["z"] });
  const c = adapter.concat([a, b]);
  const { out, input } = memoryStore();
  await adapter.save?.(c, out);
  const back = adapter.load?.(input);
  assert.equal(back?.numRows, 3);
  assert.deepEqual([...back!.getChild("s")!.toArray()], ["x", "y", "z"]);
});

Deno.test("arrowAdapter: a module that is not apache-arrow is a FrameError", () => {
  assert.throws(() => arrowAdapter({} as typeof arrow), FrameError);
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
