/**
 * `deno bench` for the stream stages (100k items per iteration; the side-by-side comparison
 * with the peers is bench/stream_compare.ts).
 */
import { batch, map, prefetch } from "../src/stream/mod.ts";

const N = 100_000;
const array = Array.from({ length: N }, (_, i) => i);

async function* gen(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

// deno-lint-ignore require-await -- an async identity function is what is measured
const identity = async (x: number): Promise<number> => x;

Deno.bench(
  "bare for await over an async generator",
  { group: "prefetch", baseline: true },
  async () => {
    let s = 0;
    for await (const x of gen(N)) s += x;
    if (s < 0) throw new Error();
  },
);

Deno.bench("batch(prefetch(gen, 1024), 1000)", { group: "prefetch" }, async () => {
  let s = 0;
  for await (const b of batch(prefetch(gen(N), { size: 1024 }), { size: 1000 })) s += b.length;
  if (s !== N) throw new Error();
});

Deno.bench("map c=1 async identity (array)", { group: "map" }, async () => {
  let s = 0;
  for await (const x of map(array, identity)) s += x;
  if (s < 0) throw new Error();
});

Deno.bench("map c=8 ordered async identity (array)", { group: "map", baseline: true }, async () => {
  let s = 0;
  for await (const x of map(array, identity, { concurrency: 8 })) s += x;
  if (s < 0) throw new Error();
});

Deno.bench("map c=8 unordered async identity (array)", { group: "map" }, async () => {
  let s = 0;
  for await (const x of map(array, identity, { concurrency: 8, ordered: false })) s += x;
  if (s < 0) throw new Error();
});
