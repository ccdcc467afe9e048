/**
 * One behavioural spec, run against both implementations of `map`/`filter` with one call at a
 * time: the serial fast path (`concurrency: 1`, no signal) and the general concurrent stage
 * (chosen as soon as a signal is given). A behaviour change made to one and not the other fails
 * here.
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { filter, map, type MapOptions } from "./map.ts";
import { collect, endless, tracked, turns } from "../../tests/stream_helpers.ts";

interface Twin {
  name: string;
  /** The class the stage is expected to be (proves the twin takes the other path). */
  stage: string;
  options(): MapOptions;
}

const twins: Twin[] = [
  { name: "serial fast path", stage: "SerialMap", options: () => ({ concurrency: 1 }) },
  {
    name: "general path",
    stage: "ConcurrentMap",
    options: () => ({ concurrency: 1, signal: new AbortController().signal }),
  },
];

for (const twin of twins) {
  const opts = twin.options;

  Deno.test(`map (${twin.name}): takes the ${twin.stage} implementation`, () => {
    assert.equal(map([1], (x) => x, opts()).constructor.name, twin.stage);
  });

  Deno.test(`map (${twin.name}): results in source order with their index, sync or async fn`, async () => {
    assert.deepEqual(await collect(map([5, 6, 7], (x, i) => x * 10 + i, opts())), [50, 61, 72]);
    assert.deepEqual(
      await collect(map([5, 6, 7], async (x, i) => (await turns(1), x * 10 + i), opts())),
      [50, 61, 72],
    );
  });

  Deno.test(`map (${twin.name}): keeps the source's length`, () => {
    assert.equal(map([1, 2, 3], (x) => x, opts()).length, 3);
  });

  Deno.test(`map (${twin.name}): a sync iterable of promises is awaited, like for await`, async () => {
    const src = [Promise.resolve(1), 2, Promise.resolve(3)] as unknown as number[];
    assert.deepEqual(await collect(map(src, (x) => x + 1, opts())), [2, 3, 4]);
  });

  Deno.test(`map (${twin.name}): a call that throws synchronously fails at its position and returns the source`, async () => {
    const [gen, track] = tracked(10);
    const boom = new Error("item 3");
    const seen: number[] = [];
    const m = map(gen, (x) => {
      if (x === 3) throw boom;
      return x;
    }, opts());
    await assert.rejects(async () => {
      for await (const x of m) seen.push(x);
    }, (e) => e === boom);
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(track.returned, true);
    assert.equal((await m.next()).done, true, "done after the error");
  });

  Deno.test(`map (${twin.name}): a rejected call fails at its position and returns the source`, async () => {
    const [gen, track] = tracked(10);
    const boom = new Error("item 4");
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (
        const x of map(gen, async (x) => {
          await turns(1);
          if (x === 4) throw boom;
          return x;
        }, opts())
      ) seen.push(x);
    }, (e) => e === boom);
    assert.deepEqual(seen, [0, 1, 2, 3]);
    assert.equal(track.returned, true);
  });

  Deno.test(`map (${twin.name}): the source's error comes after every earlier result`, async () => {
    const [gen] = tracked(10, { failAt: 6 });
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const x of map(gen, (x) => x, opts())) seen.push(x);
    }, /boom/);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  });

  Deno.test(`map (${twin.name}): an early break returns the source and stops pulling`, async () => {
    const [gen, track] = endless();
    let n = 0;
    for await (const _ of map(gen, async (x) => (await turns(1), x), opts())) if (++n === 4) break;
    assert.equal(track.returned, true);
    const pulled = track.pulled;
    await turns(3);
    assert.equal(track.pulled, pulled, "nothing pulls after the break");
  });

  Deno.test(`map (${twin.name}): a string source is refused, like every stage`, () => {
    assert.throws(
      () => map("abc" as unknown as string[], (x) => x, opts()).next(),
      InvalidArgumentError,
    );
  });

  Deno.test(`filter (${twin.name}): keeps matching items in order, sync or async predicate`, async () => {
    assert.deepEqual(await collect(filter([1, 2, 3, 4, 5], (x) => x % 2 === 1, opts())), [1, 3, 5]);
    assert.deepEqual(
      await collect(filter([1, 2, 3, 4, 5], async (x) => (await turns(1), x > 2), opts())),
      [3, 4, 5],
    );
  });
}
