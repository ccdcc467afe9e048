import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { tee } from "./tee.ts";
import { collect, endless, tracked, turns } from "../../tests/stream_helpers.ts";

Deno.test("tee gives every branch every item in order, and keeps length", async () => {
  const [gen, track] = tracked(30);
  const branches = tee(gen, 3, { capacity: 4 });
  const outs = await Promise.all(branches.map(collect));
  for (const out of outs) assert.deepEqual(out, Array.from({ length: 30 }, (_, i) => i));
  assert.equal(track.pulled, 30);
  assert.equal(track.finished, true);
  assert.equal(tee([1, 2], 2, { capacity: 1 })[1]!.length, 2);
});

Deno.test("tee: the slowest branch bounds how far the fastest runs ahead", async () => {
  const [gen, track] = endless();
  const capacity = 5;
  const [fast, slow] = tee(gen, 2, { capacity });
  let fastCount = 0;
  let stop = false;
  const fastDone = (async () => {
    for await (const _ of fast!) {
      fastCount++;
      if (stop) break;
    }
  })();
  let slowCount = 0;
  for (let k = 0; k < 10; k++) {
    await turns(4);
    assert.ok(fastCount <= slowCount + capacity, `fast ${fastCount}, slow ${slowCount}`);
    assert.ok(track.pulled <= slowCount + capacity, `pulled ${track.pulled}`);
    await slow!.next();
    slowCount++;
  }
  assert.ok(fastCount > slowCount, "the fast branch did run ahead");
  stop = true;
  await turns(2);
  await fastDone;
  await slow!.return();
  assert.equal(track.returned, true, "all branches returned: the source was returned");
});

Deno.test("tee: a branch that returns early no longer holds the others back", async () => {
  const [gen, track] = tracked(100);
  const [a, b] = tee(gen, 2, { capacity: 2 });
  assert.equal((await a!.next()).value, 0);
  await a!.return();
  assert.equal(track.returned, false, "one branch is still active");
  assert.deepEqual(await collect(b!), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(track.finished, true);
});

Deno.test("tee: when every branch returns, the source is returned", async () => {
  const [gen, track] = endless();
  const branches = tee(gen, 3, { capacity: 3 });
  for (const br of branches) {
    for await (const _ of br) break;
  }
  assert.equal(track.returned, true);
});

Deno.test("tee: a source error reaches each branch at its position", async () => {
  const boom = new Error("boom");
  const [gen] = tracked(10, { failAt: 6, error: boom });
  const branches = tee(gen, 2, { capacity: 3 });
  // Read the branches concurrently: one alone could run only `capacity` items ahead.
  const results = await Promise.all(branches.map(async (br) => {
    const seen: number[] = [];
    try {
      for await (const x of br) seen.push(x);
      return { seen, error: undefined as unknown };
    } catch (error) {
      return { seen, error };
    }
  }));
  for (const r of results) {
    assert.deepEqual(r.seen, [0, 1, 2, 3, 4, 5]);
    assert.equal(r.error, boom);
  }
});

Deno.test("tee rejects bad arguments", () => {
  assert.throws(() => tee([1], 0, { capacity: 1 }), InvalidArgumentError);
  assert.throws(() => tee([1], 2, { capacity: 0 }), InvalidArgumentError);
  assert.throws(() => tee([1], 2, undefined as never), InvalidArgumentError);
  assert.throws(() => tee(3 as never, 2, { capacity: 1 }), InvalidArgumentError);
});
