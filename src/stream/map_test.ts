import assert from "node:assert/strict";
import { AbortedError, InvalidArgumentError } from "../errors.ts";
import { filter, map } from "./map.ts";
import { collect, endless, random, sleep, tracked, turns } from "../../tests/stream_helpers.ts";

/** An async function with random small delays that records how many calls run at once. */
function probe(seed: number) {
  const rnd = random(seed);
  const stats = { active: 0, max: 0, calls: 0 };
  const fn = async (x: number) => {
    stats.calls++;
    stats.active++;
    stats.max = Math.max(stats.max, stats.active);
    try {
      const r = rnd();
      if (r < 0.5) await sleep(Math.floor(r * 8));
      else await turns(1 + Math.floor(r * 3));
      return x * 10;
    } finally {
      stats.active--;
    }
  };
  return { fn, stats };
}

for (const src of ["array", "async"] as const) {
  Deno.test(`map ordered, concurrency 4, random delays keeps source order (${src} source)`, async () => {
    const { fn, stats } = probe(1);
    const source = src === "array" ? Array.from({ length: 60 }, (_, i) => i) : tracked(60)[0];
    const out = await collect(map(source, fn, { concurrency: 4 }));
    assert.deepEqual(out, Array.from({ length: 60 }, (_, i) => i * 10));
    assert.ok(stats.max <= 4, `max active ${stats.max}`);
    assert.equal(stats.max, 4, "the concurrency was used");
    assert.equal(stats.active, 0);
  });

  Deno.test(`map unordered delivers every result, completion order (${src} source)`, async () => {
    const { fn, stats } = probe(2);
    const source = src === "array" ? Array.from({ length: 60 }, (_, i) => i) : tracked(60)[0];
    const out = await collect(map(source, fn, { concurrency: 5, ordered: false }));
    assert.deepEqual([...out].sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i * 10));
    assert.ok(stats.max <= 5);
    assert.equal(stats.max, 5);
  });
}

Deno.test("map unordered yields fast results before slow ones", async () => {
  const delays = [30, 1, 1, 1];
  const out = await collect(
    map([0, 1, 2, 3], async (i) => {
      await sleep(delays[i]!);
      return i;
    }, { concurrency: 4, ordered: false }),
  );
  assert.equal(out[3], 0);
});

Deno.test("map concurrency 1 runs one call at a time, in order", async () => {
  const { fn, stats } = probe(3);
  assert.deepEqual(await collect(map([1, 2, 3], fn)), [10, 20, 30]);
  assert.equal(stats.max, 1);
  assert.deepEqual(await collect(map([1, 2, 3], (x) => x + 1)), [2, 3, 4]);
});

Deno.test("map keeps length and passes the index", async () => {
  const m = map(["a", "b", "c"], (x, i) => `${x}${i}`, { concurrency: 2 });
  assert.equal(m.length, 3);
  assert.deepEqual(await collect(m), ["a0", "b1", "c2"]);
  assert.equal(map(["a"], (x) => x).length, 1);
});

for (const concurrency of [1, 3]) {
  Deno.test(`map (c=${concurrency}): a failing call throws at its position after the results before it`, async () => {
    const boom = new Error("item 7");
    const stats = { active: 0 };
    const [gen, track] = tracked(50);
    const m = map(gen, async (x) => {
      stats.active++;
      try {
        await turns(1 + (x % 3));
        if (x === 7) throw boom;
        return x;
      } finally {
        stats.active--;
      }
    }, { concurrency });
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const x of m) seen.push(x);
    }, (e) => e === boom);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(stats.active, 0, "calls in flight settled before the error was thrown");
    assert.equal(track.returned, true, "the source was returned");
    assert.equal((await m.next()).done, true);
  });
}

Deno.test("map (ordered, c=4): the source error comes after every earlier result", async () => {
  const [gen] = tracked(20, { failAt: 9 });
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const x of map(gen, async (x) => (await turns(1), x), { concurrency: 4 })) {
      seen.push(x);
    }
  }, /boom/);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

for (const ordered of [true, false]) {
  for (const concurrency of [1, 4]) {
    Deno.test(`map (c=${concurrency}, ordered=${ordered}): early break returns the source, aborts fn's signal, leaves nothing running`, async () => {
      const [gen, track] = endless();
      const stats = { active: 0, aborted: 0 };
      const m = map(gen, async (x, _i, signal) => {
        stats.active++;
        try {
          await turns(2);
          if (signal.aborted) stats.aborted++;
          return x;
        } finally {
          stats.active--;
        }
      }, { concurrency, ordered });
      let n = 0;
      for await (const _ of m) if (++n === 5) break;
      assert.equal(track.returned, true);
      assert.equal(stats.active, 0, "return() waited for the calls in flight");
      const pulled = track.pulled;
      await turns(3);
      assert.equal(track.pulled, pulled);
      if (concurrency > 1) assert.ok(stats.aborted > 0, "calls in flight saw the abort");
    });
  }
}

Deno.test("map: a slow consumer bounds how far the source is pulled", async () => {
  const [gen, track] = endless();
  const m = map(gen, async (x) => (await turns(1), x), { concurrency: 3 });
  for (let consumed = 1; consumed <= 10; consumed++) {
    await m.next();
    await turns(5);
    // ordered window: 2 * concurrency rounded up to a power of two (8)
    assert.ok(track.pulled <= consumed + 8, `pulled ${track.pulled} after ${consumed}`);
  }
  await m.return();
});

Deno.test("map: abort signal rejects the consumer with AbortedError and returns the source", async () => {
  const ctl = new AbortController();
  const [gen, track] = endless();
  const m = map(gen, async (x) => (await sleep(5), x), { concurrency: 2, signal: ctl.signal });
  assert.equal((await m.next()).value, 0);
  const pending = m.next();
  ctl.abort();
  await assert.rejects(pending, AbortedError);
  assert.equal(track.returned, true);
  assert.equal((await m.next()).done, true);
  const m2 = map([1], (x) => x, { signal: AbortSignal.abort() });
  await assert.rejects(m2.next(), AbortedError);
});

for (const [stage, action] of [["map", "map a source"], ["filter", "filter a source"]] as const) {
  Deno.test(`${stage}: an abort names the stage's own action ("${action}")`, async () => {
    const ctl = new AbortController();
    const [gen] = endless();
    const fn = async (x: number) => (await sleep(5), x);
    const stage_ = stage === "map"
      ? map(gen, fn, { concurrency: 2, signal: ctl.signal })
      : filter(gen, async (x: number) => (await sleep(5), x >= 0), {
        concurrency: 2,
        signal: ctl.signal,
      });
    await stage_.next();
    const pending = stage_.next();
    ctl.abort();
    await assert.rejects(
      pending,
      (e: unknown) => e instanceof AbortedError && e.message.startsWith(`Cannot ${action}:`),
    );
  });
}

Deno.test("map over a sync iterable of promises awaits them (like for await)", async () => {
  const out = await collect(
    map([Promise.resolve(1), 2] as Iterable<number>, (x) => x * 2, { concurrency: 2 }),
  );
  assert.deepEqual(out, [2, 4]);
});

Deno.test("map and filter reject bad arguments", () => {
  assert.throws(() => map([1], 5 as never), InvalidArgumentError);
  for (const concurrency of [0, -1, 2.5, "2"]) {
    assert.throws(
      () => map([1], (x) => x, { concurrency: concurrency as number }),
      InvalidArgumentError,
    );
  }
  assert.throws(() => map([1], (x) => x, { ordered: "yes" as never }), InvalidArgumentError);
  assert.throws(() => map(null as never, (x) => x, { concurrency: 2 }), InvalidArgumentError);
  assert.throws(() => filter([1], null as never), InvalidArgumentError);
});

Deno.test("filter keeps matching items, sync or async predicates, ordered or not", async () => {
  const xs = Array.from({ length: 40 }, (_, i) => i);
  assert.deepEqual(await collect(filter(xs, (x) => x % 3 === 0)), xs.filter((x) => x % 3 === 0));
  const { fn } = probe(4);
  const odd = await collect(
    filter(xs, async (x) => (await fn(x)) % 20 !== 0, { concurrency: 4 }),
  );
  assert.deepEqual(odd, xs.filter((x) => x % 2 === 1));
  const un = await collect(
    filter(xs, async (x) => (await fn(x), x > 30), { concurrency: 4, ordered: false }),
  );
  assert.deepEqual(un.sort((a, b) => a - b), [31, 32, 33, 34, 35, 36, 37, 38, 39]);
  const [gen, track] = endless();
  for await (const _ of filter(gen, (x) => x > 3, { concurrency: 2 })) break;
  assert.equal(track.returned, true);
});

// The rules above at concurrency > 1, in both orders, where the cases above cover one order only.
for (const ordered of [true, false]) {
  const options = { concurrency: 4, ordered };
  const label = `map (c=4, ordered=${ordered})`;

  Deno.test(`${label}: a rejected call throws after the calls in flight settled, and returns the source`, async () => {
    const boom = new Error("item 5");
    const stats = { active: 0 };
    const [gen, track] = tracked(50);
    const m = map(gen, async (x) => {
      stats.active++;
      try {
        await turns(1 + (x % 3));
        if (x === 5) throw boom;
        return x;
      } finally {
        stats.active--;
      }
    }, options);
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const x of m) seen.push(x);
    }, (e) => e === boom);
    if (ordered) assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    else assert.ok(seen.length >= 1 && !seen.includes(5), `seen ${seen}`);
    assert.equal(new Set(seen).size, seen.length, "no result twice");
    assert.equal(stats.active, 0, "calls in flight settled before the error was thrown");
    assert.equal(track.returned, true, "the source was returned");
    assert.equal((await m.next()).done, true, "done after the error");
  });

  Deno.test(`${label}: a call that throws synchronously comes after the results before it`, async () => {
    const boom = new Error("item 3");
    const seen: number[] = [];
    const m = map([0, 1, 2, 3, 4, 5, 6, 7], (x) => {
      if (x === 3) throw boom;
      return x;
    }, options);
    await assert.rejects(async () => {
      for await (const x of m) seen.push(x);
    }, (e) => e === boom);
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal((await m.next()).done, true, "done after the error");
  });

  Deno.test(`${label}: the source's error comes after every result before it`, async () => {
    const [gen] = tracked(20, { failAt: 9 });
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const x of map(gen, async (x) => (await turns(1 + (x % 2)), x), options)) {
        seen.push(x);
      }
    }, /boom/);
    assert.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    if (ordered) assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  Deno.test(`${label}: a slow consumer bounds how far the source is pulled`, async () => {
    const [gen, track] = endless();
    const m = map(gen, async (x) => (await turns(1), x), options);
    for (let consumed = 1; consumed <= 10; consumed++) {
      await m.next();
      await turns(5);
      // 2 * concurrency rounded up to a power of two (8) held at most
      assert.ok(track.pulled <= consumed + 8, `pulled ${track.pulled} after ${consumed}`);
    }
    await m.return();
    assert.equal(track.returned, true);
  });

  Deno.test(`${label}: a sync iterable of promises is awaited, like for await`, async () => {
    const src = [Promise.resolve(1), 2, Promise.resolve(3), 4] as unknown as number[];
    const out = await collect(map(src, async (x) => (await turns(1), x * 2), options));
    assert.deepEqual([...out].sort((a, b) => a - b), [2, 4, 6, 8]);
    if (ordered) assert.deepEqual(out, [2, 4, 6, 8]);
  });

  Deno.test(`${label}: keeps the source's length and passes each item's index`, async () => {
    const m = map(["a", "b", "c"], (x, i) => `${x}${i}`, options);
    assert.equal(m.length, 3);
    const out = await collect(m);
    assert.deepEqual([...out].sort(), ["a0", "b1", "c2"]);
  });

  Deno.test(`${label}: an abort rejects the waiting consumer with AbortedError and returns the source`, async () => {
    const controller = new AbortController();
    const [gen, track] = endless();
    const m = map(gen, async (x) => (await sleep(5), x), { ...options, signal: controller.signal });
    assert.equal(typeof (await m.next()).value, "number");
    const pending = m.next();
    controller.abort();
    await assert.rejects(pending, AbortedError);
    assert.equal(track.returned, true);
    assert.equal((await m.next()).done, true);
  });

  Deno.test(`${label}: a string source is refused, like every stage`, () => {
    assert.throws(() => map("abc" as unknown as string[], (x) => x, options), InvalidArgumentError);
  });
}
