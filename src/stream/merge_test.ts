import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { merge, zip } from "./merge.ts";
import { collect, endless, tracked, turns } from "../../tests/stream_helpers.ts";

Deno.test("merge interleaves items as they arrive and keeps each source's order", async () => {
  const [a] = tracked([1, 2, 3], { delay: () => turns(2) });
  const [b] = tracked([10, 20, 30, 40], { delay: () => turns(1) });
  const out = await collect(merge(a, b, [100]));
  assert.equal(out.length, 8);
  assert.deepEqual(out.filter((x) => x < 10), [1, 2, 3]);
  assert.deepEqual(out.filter((x) => x >= 10 && x < 100), [10, 20, 30, 40]);
  assert.ok(out.indexOf(10) < out.indexOf(3), "interleaved, not concatenated");
  assert.equal(merge([1], [2, 3]).length, 3);
  assert.deepEqual(await collect(merge()), []);
});

Deno.test("merge: a source error propagates and the other sources are returned", async () => {
  const boom = new Error("boom");
  const [bad] = tracked(5, { failAt: 2, error: boom, delay: () => turns(1) });
  const [other, track] = tracked(1000, { delay: () => turns(1) });
  await assert.rejects(collect(merge(bad, other)), (e) => e === boom);
  assert.equal(track.returned, true);
});

Deno.test("merge: early break returns every source", async () => {
  const [a, ta] = endless();
  const [b, tb] = endless();
  const [c, tc] = tracked(3);
  const m = merge(a, b, c);
  let n = 0;
  for await (const _ of m) if (++n === 4) break;
  assert.equal(ta.returned, true);
  assert.equal(tb.returned, true);
  assert.ok(tc.returned || tc.finished);
  assert.equal((await m.next()).done, true);
});

Deno.test("merge: a slow consumer bounds each source to one item ahead", async () => {
  const [a, ta] = endless();
  const [b, tb] = endless();
  const m = merge(a, b);
  for (let consumed = 1; consumed <= 10; consumed++) {
    await m.next();
    await turns(3);
    assert.ok(ta.pulled + tb.pulled <= consumed + 2, `pulled ${ta.pulled + tb.pulled}`);
  }
  await m.return();
});

Deno.test("zip pairs items, stops at the shortest and returns the others", async () => {
  const [long, track] = endless();
  const out = await collect(zip([1, 2, 3], long, ["a", "b", "c", "d"]));
  assert.deepEqual(out, [[1, 0, "a"], [2, 1, "b"], [3, 2, "c"]]);
  assert.equal(track.returned, true);
  assert.equal(zip([1, 2], [1, 2, 3]).length, 2);
  assert.deepEqual(await collect(zip()), []);
});

Deno.test("zip: a source error is thrown after returning the others; break returns all", async () => {
  const [bad] = tracked(5, { failAt: 1 });
  const [other, track] = endless();
  await assert.rejects(collect(zip(bad, other)), /boom/);
  assert.equal(track.returned, true);
  const [x, tx] = endless();
  const [y, ty] = endless();
  for await (const _ of zip(x, y)) break;
  assert.equal(tx.returned && ty.returned, true);
});

Deno.test("merge and zip reject non-iterables", () => {
  assert.throws(() => merge([1], 5 as never), InvalidArgumentError);
  assert.throws(() => zip([1], null as never), InvalidArgumentError);
});
