// Control always works: stream stages over a synchronous or in-memory source give timers a
// turn, so a timer fires during a long run whatever the chain (and a chain yields once per
// slice, not once per stage: the clock is shared).
import assert from "node:assert/strict";
import {
  batch,
  channel,
  filter,
  fromReadable,
  map,
  merge,
  ndjson,
  prefetch,
  progress,
  tee,
  toNdjson,
  zip,
} from "./mod.ts";
import { promptTurns } from "../_internal/turn.ts";

const N = 1_000_000;

function* numbers(n = N): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/** Consume `it` and report at which item a 5 ms interval first fired (-1: never). */
async function firstTick(it: AsyncIterable<unknown>): Promise<{ n: number; at: number }> {
  let n = 0;
  let at = -1;
  const id = setInterval(() => {
    if (at < 0) at = n;
  }, 5);
  try {
    for await (const _ of it) n++;
  } finally {
    clearInterval(id);
  }
  return { n, at };
}

function assertTicked(r: { n: number; at: number }, total: number): void {
  assert.equal(r.n, total);
  assert.ok(r.at >= 0 && r.at < total, `the timer first fired at item ${r.at} of ${total}`);
}

const cases: [string, () => AsyncIterable<unknown>, number][] = [
  ["map", () => map(numbers(), (x) => x + 1), N],
  ["map, concurrency 4", () => map(numbers(), (x) => x + 1, { concurrency: 4 }), N],
  ["map, unordered", () => map(numbers(), (x) => x, { concurrency: 4, ordered: false }), N],
  ["filter", () => filter(numbers(), (x) => x % 2 === 0), N / 2],
  ["batch", () => batch(numbers(), { size: 1 }), N],
  ["batch, maxWaitMs", () => batch(numbers(), { size: 1, maxWaitMs: 1000 }), N],
  ["prefetch", () => prefetch(numbers(), { size: 16 }), N],
  [
    "map/batch/prefetch chain",
    () => batch(prefetch(map(numbers(), (x) => x * 2), { size: 64 }), { size: 1 }),
    N,
  ],
  [
    "batch over prefetch (polled)",
    () => batch(prefetch(numbers(), { size: 1024 }), { size: 2 }),
    N / 2,
  ],
  ["merge", () => merge(numbers(N / 2), numbers(N / 2)), N],
  ["zip", () => zip(numbers(), numbers()), N],
  ["ndjson", () =>
    ndjson((function* () {
      for (let i = 0; i < N; i++) yield "1";
    })()), N],
  ["toNdjson", () => toNdjson(numbers()), N],
  ["progress", () => progress(numbers(), { output: () => {} }), N],
  ["fromReadable", () => fromReadable(ReadableStream.from(numbers())), N],
];

for (const [name, make, total] of cases) {
  Deno.test(`stream turn: a timer fires during ${name} over a synchronous source`, async () => {
    assertTicked(await firstTick(make()), total);
  });
}

Deno.test("stream turn: a timer fires during tee over a synchronous source", async () => {
  const [a, b] = tee(numbers(), 2, { capacity: 64 });
  const [ra, rb] = await Promise.all([firstTick(a!), firstTick(b!)]);
  assertTicked(ra, N);
  assertTicked(rb, N);
});

Deno.test("stream turn: a timer fires while a channel is fed and drained in memory", async () => {
  const ch = channel<number>({ capacity: 64 });
  const feeding = (async () => {
    for (let i = 0; i < N; i++) await ch.send(i);
    ch.close();
  })();
  assertTicked(await firstTick(ch), N);
  await feeding;
});

Deno.test("stream turn: concurrent next() calls keep their order across turns", async () => {
  const m = map(numbers(200_000), (x) => x);
  const got: number[] = [];
  for (;;) {
    const rs = await Promise.all([m.next(), m.next(), m.next(), m.next()]);
    for (const r of rs) if (!r.done) got.push(r.value);
    if (rs.some((r) => r.done)) break;
  }
  assert.equal(got.length, 200_000);
  assert.ok(got.every((v, i) => v === i), "results came out of order");
});

Deno.test("stream turn: every stage makes progress while turns are prompt (a turn at each check)", async () => {
  // promptTurns is on while a checkpoint is written: turnDue() may say yes at every call, and a
  // stage must still move at least one item per turn.
  const M = 20_000;
  const stages: [string, () => AsyncIterable<unknown>][] = cases.map(([name, make]) => [
    name,
    () => {
      const it = make()[Symbol.asyncIterator]();
      let k = 0;
      return { [Symbol.asyncIterator]: () => ({ next: () => k++ < M ? it.next() : it.return!() }) };
    },
  ]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<string>((r) => (timer = setTimeout(() => r("stuck"), 20_000)));
  try {
    const done = promptTurns(async () => {
      for (const [, make] of stages) for await (const _ of make()) { /* drain */ }
      return "done";
    });
    assert.equal(await Promise.race([done, stuck]), "done");
  } finally {
    clearTimeout(timer);
  }
});
