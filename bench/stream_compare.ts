/**
 * Side-by-side stream benchmarks (prints a table of medians and ratios).
 *
 *   npx -y deno@2.9.6 run -A bench/stream_compare.ts [--items 1000000] [--runs 5]
 *
 * 1. bare `for await` over an async generator vs `batch(prefetch(gen, {size: 1024}), {size: 1000})`
 * 2. ordered `map` (concurrency 8, async identity) vs `p-map` vs Effect `Stream.mapEffect`,
 *    over an array source and over an async generator source.
 * 3. `ndjson(lines(path))` over a 1e6-line file vs reading the whole file, `split` and `JSON.parse`.
 *
 * Every figure is the median of `runs` runs in this one process (after one warm-up run).
 */

import pMap from "npm:p-map@7";
import { Effect, Stream } from "npm:effect@3";
import { batch, lines, map, ndjson, prefetch, writeNdjson } from "../src/stream/mod.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const N = arg("items", 1_000_000);
const RUNS = arg("runs", 5);
// Effect's Stream.mapEffect runs ~20-30k items/s on Deno: 1e6 items would take ~40 s per run, so
// it is measured on fewer items (median of 3 after a warm-up) and compared by per-item rate.
const EFFECT_N = arg("effect-items", 100_000);

async function* gen(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

// deno-lint-ignore require-await -- an async identity function is what the benchmark measures
const identity = async (x: number): Promise<number> => x;

/**
 * Run every case once per round, `runs` rounds (after one warm-up round), interleaved so that
 * load from other processes hits every case alike; report each case's median time.
 */
async function interleaved(
  cases: { label: string; n: number; run: () => Promise<number> }[],
  runs = RUNS,
): Promise<Row[]> {
  const checks = [];
  for (const c of cases) checks.push(await c.run()); // warm-up; also checks the result
  const times: number[][] = cases.map(() => []);
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < cases.length; k++) {
      const t0 = performance.now();
      const got = await cases[k]!.run();
      times[k]!.push(performance.now() - t0);
      if (got !== checks[k]) throw new Error(`${cases[k]!.label}: inconsistent result`);
    }
  }
  return cases.map((c, k) => {
    const sorted = times[k]!.sort((a, b) => a - b);
    const ms = sorted[Math.floor(sorted.length / 2)]!;
    return { label: c.label, n: c.n, ms, rate: c.n / (ms / 1000) };
  });
}

interface Row {
  label: string;
  n: number;
  ms: number;
  rate: number;
}

async function bareForAwait(): Promise<number> {
  let sum = 0;
  for await (const x of gen(N)) sum += x;
  return sum;
}

async function prefetchBatch(): Promise<number> {
  let sum = 0;
  for await (const b of batch(prefetch(gen(N), { size: 1024 }), { size: 1000 })) {
    for (const x of b) sum += x;
  }
  return sum;
}

const array = Array.from({ length: N }, (_, i) => i);

async function spoolMap(source: () => Iterable<number> | AsyncIterable<number>): Promise<number> {
  let sum = 0;
  for await (const x of map(source(), identity, { concurrency: 8 })) sum += x;
  return sum;
}

async function pMapRun(source: () => Iterable<number> | AsyncIterable<number>): Promise<number> {
  const out = await pMap(source(), identity, { concurrency: 8 });
  let sum = 0;
  for (const x of out) sum += x;
  return sum;
}

async function effectRun(n: number): Promise<number> {
  const src = Array.from({ length: n }, (_, i) => i);
  const program = Stream.fromIterable(src).pipe(
    Stream.mapEffect((x) => Effect.promise(() => identity(x)), { concurrency: 8 }),
    Stream.runFold(0, (a, x) => a + x),
  );
  return await Effect.runPromise(program);
}

function fmtRate(r: number): string {
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)}M/s` : `${(r / 1e3).toFixed(0)}k/s`;
}

function table(title: string, rows: Row[], base: Row): void {
  console.log(`\n${title}`);
  console.log("| case | items | median ms | items/s | vs first row |");
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.label} | ${r.n} | ${r.ms.toFixed(1)} | ${fmtRate(r.rate)} | ${
        (r.rate / base.rate).toFixed(2)
      }x |`,
    );
  }
}

console.log(
  `spool stream_compare: Deno ${Deno.version.deno}, ${N} items, median of ${RUNS} runs, ${
    new Date().toISOString()
  }`,
);

const only = Deno.args.includes("--only") ? Deno.args[Deno.args.indexOf("--only") + 1] : "";

if (!only || only === "prefetch") {
  const [bare, pb] = await interleaved([
    { label: "bare for await (async generator)", n: N, run: bareForAwait },
    { label: "batch(prefetch(gen, {size: 1024}), {size: 1000})", n: N, run: prefetchBatch },
  ]) as [Row, Row];
  table("1. prefetch + batch vs bare for await (time ratio goal: <= 2x)", [bare, pb], bare);
  console.log(`time ratio prefetch+batch / bare = ${(pb.ms / bare.ms).toFixed(2)}x`);
}

if (!only || only === "map") {
  const rows = await interleaved([
    { label: "spool map c=8 ordered (array source)", n: N, run: () => spoolMap(() => array) },
    { label: "p-map c=8 (array source)", n: N, run: () => pMapRun(() => array) },
    { label: "spool map c=8 ordered (async gen source)", n: N, run: () => spoolMap(() => gen(N)) },
    { label: "p-map c=8 (async gen source)", n: N, run: () => pMapRun(() => gen(N)) },
  ]);
  const [ef] = await interleaved([
    {
      label: `Effect Stream.mapEffect c=8 (array, ${EFFECT_N} items)`,
      n: EFFECT_N,
      run: () => effectRun(EFFECT_N),
    },
  ], 3);
  rows.push(ef!);
  table(
    "2. ordered map, concurrency 8, async identity (goal: >= 2x p-map, >= 10x Effect)",
    rows,
    rows[0]!,
  );
  const [sa, pa, sg, pg] = rows as [Row, Row, Row, Row];
  console.log(`spool/p-map (array) = ${(sa.rate / pa.rate).toFixed(2)}x`);
  console.log(`spool/p-map (async gen) = ${(sg.rate / pg.rate).toFixed(2)}x`);
  console.log(`spool/Effect (array, per-item rate) = ${(sa.rate / ef!.rate).toFixed(1)}x`);
}

if (!only || only === "lines") {
  const path = await Deno.makeTempFile({ prefix: "spool-bench-", suffix: ".ndjson" });
  try {
    await writeNdjson(
      path,
      (function* () {
        for (let i = 0; i < N; i++) yield { id: i, t: 1_700_000_000 + i, v: i % 97 };
      })(),
    );
    const rows = await interleaved([
      {
        label: "readTextFile + split + JSON.parse (whole file in memory)",
        n: N,
        run: async () => {
          let n = 0;
          for (const l of (await Deno.readTextFile(path)).split("\n")) {
            if (l) {
              JSON.parse(l);
              n++;
            }
          }
          return n;
        },
      },
      {
        label: "lines(path) (streaming, no parse)",
        n: N,
        run: async () => {
          let n = 0;
          for await (const _ of lines(path)) n++;
          return n;
        },
      },
      {
        label: "ndjson(lines(path)) (streaming)",
        n: N,
        run: async () => {
          let n = 0;
          for await (const _ of ndjson(lines(path))) n++;
          return n;
        },
      },
    ], 3);
    table("3. NDJSON file, 1e6 lines (informative, no goal)", rows, rows[0]!);
  } finally {
    await Deno.remove(path);
  }
}
