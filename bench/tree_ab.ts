/**
 * Two source trees A/B in one process: the same cases are imported from this tree and from a
 * checkout of another commit (the one before a refactor, or before a hot-path change) and run in
 * alternating rounds, so both see the same machine load.
 *
 *   git worktree add /tmp/ab-base <commit>
 *   npx -y deno@2.9.6 run -A bench/tree_ab.ts --base /tmp/ab-base [--rounds 7] [--items 1000000]
 *     [--tasks 100000] [--only <part of a case label>]
 *
 * Prints, per case, the median time of each tree and the ratio (this tree / base). Cases: bare
 * `for await` (reference, no spool code), `batch(prefetch(gen))`, ordered `map` concurrency 8 and
 * 1, a 3-node fused and unfused main-thread pipeline over a synchronous source (with and without
 * `checkpointEvery: { items: 100000 }`), `StatefulLoop.items` over an array, `pool.map` of no-op
 * tasks (ordered and unordered, 2 threads) and of 1 MiB buffers with transfer, a pipeline with a
 * pool node, and `StateStore.save` of 1 MiB and 16 MiB. The pool cases start one pool per tree
 * before the rounds (start-up is not what they measure).
 */

const argv = Deno.args;
function opt(name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : fallback;
}
const BASE = opt("base", "");
if (!BASE) {
  console.error("usage: turn_ab.ts --base <other source tree> [--rounds 7] [--items 1000000]");
  Deno.exit(2);
}
const ROUNDS = Number(opt("rounds", "7"));
const N = Number(opt("items", "1000000"));
const TASKS = Number(opt("tasks", "100000"));
const HERE = new URL("..", import.meta.url).pathname;

interface Tree {
  label: string;
  stream: typeof import("../src/stream/mod.ts");
  pipeline: typeof import("../src/pipeline/mod.ts");
  loop: typeof import("../src/loop/mod.ts");
  pool: typeof import("../src/pool/mod.ts");
  state: typeof import("../src/state/mod.ts");
  /** A started pool of 2 threads running bench/pool_bench_worker.ts in "noop" or "buf" mode. */
  pools: Record<"noop" | "buf", PoolLike>;
}

/** What the cases use of a pool (both trees' WorkerPool have it). */
interface PoolLike {
  map(source: Iterable<unknown>, options?: Record<string, unknown>): AsyncIterable<unknown>;
  close(): Promise<void>;
}

async function startPools(t: Tree, root: string): Promise<void> {
  for (const mode of ["noop", "buf"] as const) {
    t.pools[mode] = await t.pool.WorkerPool.start({
      module: new URL(
        "bench/pool_bench_worker.ts",
        `file://${root.endsWith("/") ? root : root + "/"}`,
      ),
      size: 2,
      init: { mode, iters: 0 },
    } as never) as unknown as PoolLike;
  }
}

async function load(label: string, root: string): Promise<Tree> {
  const url = (p: string) => new URL(p, `file://${root.endsWith("/") ? root : root + "/"}`).href;
  return {
    label,
    stream: await import(url("src/stream/mod.ts")),
    pipeline: await import(url("src/pipeline/mod.ts")),
    loop: await import(url("src/loop/mod.ts")),
    pool: await import(url("src/pool/mod.ts")),
    state: await import(url("src/state/mod.ts")),
    pools: {} as Tree["pools"],
  };
}

async function* gen(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}
function* syncGen(n: number, from = 0): Generator<number> {
  for (let i = from; i < n; i++) yield i;
}
// deno-lint-ignore require-await -- an async identity function is what the case measures
const identity = async (x: number): Promise<number> => x;
const array = Array.from({ length: N }, (_, i) => i);

type Case = { label: string; run: (t: Tree) => Promise<number> };

function threeNodes(t: Tree, fuse: boolean) {
  const p = new t.pipeline.Pipeline({ fuse });
  p.source("s");
  p.node("a", { inputs: ["s"], fn: (x: number) => x + 1 });
  p.node("b", { inputs: ["a"], fn: (x: number) => x * 2 });
  p.node("c", {
    inputs: ["b"],
    state: { sum: 0 },
    fn: (st: { sum: number }, x: number) => (st.sum += x),
  });
  return p;
}

async function pipelineRun(t: Tree, fuse: boolean, checkpoint: boolean): Promise<number> {
  const store = checkpoint ? await Deno.makeTempDir({ prefix: "spool-tree-ab-" }) : undefined;
  try {
    let last = 0;
    await threeNodes(t, fuse).runToCompletion(
      { s: (pos: number) => syncGen(N, pos) },
      {
        sinks: { c: (x) => void (last = x as number) },
        ...(store ? { store, checkpointEvery: { items: 100_000 } } : {}),
      },
    );
    return last;
  } finally {
    if (store) await Deno.remove(store, { recursive: true });
  }
}

const cases: Case[] = [
  {
    label: "bare for await over an async generator (no spool code)",
    run: async () => {
      let s = 0;
      for await (const x of gen(N)) s += x;
      return s;
    },
  },
  {
    label: "batch(prefetch(gen, {size: 1024}), {size: 1000})",
    run: async (t) => {
      let s = 0;
      for await (
        const b of t.stream.batch(t.stream.prefetch(gen(N), { size: 1024 }), { size: 1000 })
      ) {
        for (const x of b) s += x;
      }
      return s;
    },
  },
  {
    label: "map c=8 ordered, async identity (array)",
    run: async (t) => {
      let s = 0;
      for await (const x of t.stream.map(array, identity, { concurrency: 8 })) s += x;
      return s;
    },
  },
  {
    label: "map c=8 ordered, async identity (async gen)",
    run: async (t) => {
      let s = 0;
      for await (const x of t.stream.map(gen(N), identity, { concurrency: 8 })) s += x;
      return s;
    },
  },
  {
    label: "map c=1, sync fn (array)",
    run: async (t) => {
      let s = 0;
      for await (const x of t.stream.map(array, (x: number) => x + 1)) s += x;
      return s;
    },
  },
  { label: "pipeline 3 nodes fused, sync source", run: (t) => pipelineRun(t, true, false) },
  { label: "pipeline 3 nodes unfused, sync source", run: (t) => pipelineRun(t, false, false) },
  {
    label: "pipeline 3 nodes fused, checkpoint every 1e5 items",
    run: (t) => pipelineRun(t, true, true),
  },
  {
    label: "StatefulLoop.items over an array (bound state)",
    run: async (t) => {
      const dir = await Deno.makeTempDir({ prefix: "spool-tree-ab-" });
      try {
        await using loop = await t.loop.StatefulLoop.open(dir, {
          checkpoint: { everyMs: false, atEnd: false },
        });
        const st = loop.bindObjectState({ sum: 0 }, { name: "st", keys: ["sum"] });
        for await (const x of loop.items(array)) st.sum += x;
        return st.sum;
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  },
];

const MIB = 1 << 20;

async function drain(source: AsyncIterable<unknown>, expect: number): Promise<number> {
  let k = 0;
  for await (const _ of source) k++;
  if (k !== expect) throw new Error(`lost results: ${k} of ${expect}`);
  return k;
}

function* counting(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

function* buffers(n: number): Generator<ArrayBuffer> {
  for (let i = 0; i < n; i++) yield new ArrayBuffer(MIB);
}

async function storeSave(t: Tree, bytes: number, saves: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "spool-tree-ab-" });
  try {
    const store = new t.state.StateStore(`${dir}/s`, { keeper: new t.state.LatestStatesKeeper(2) });
    store.register("a", t.state.arrayState(new Float64Array(bytes / 8)));
    for (let i = 0; i < saves; i++) await store.save();
    return saves;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

cases.push(
  {
    label: `pool.map ordered, no-op tasks (${TASKS}, 2 threads)`,
    run: (t) => drain(t.pools.noop.map(counting(TASKS)), TASKS),
  },
  {
    label: `pool.map unordered, no-op tasks (${TASKS}, 2 threads)`,
    run: (t) => drain(t.pools.noop.map(counting(TASKS), { ordered: false }), TASKS),
  },
  {
    label: "pool.map 1 MiB buffers with transfer (2000)",
    run: (t) => drain(t.pools.buf.map(buffers(2000), { transfer: true }), 2000),
  },
  {
    label: `pipeline pool node -> fn -> stateful (${TASKS})`,
    run: async (t) => {
      const p = new t.pipeline.Pipeline();
      p.source("s");
      p.node("work", { inputs: ["s"], pool: t.pools.noop as never });
      p.node("inc", { inputs: ["work"], fn: (x: number) => x + 1 });
      p.node("sum", {
        inputs: ["inc"],
        state: { sum: 0 },
        fn: (st: { sum: number }, x: number) => (st.sum += x),
      });
      let last = 0;
      await p.runToCompletion({ s: counting(TASKS) }, {
        sinks: { sum: (x) => void (last = x as number) },
      });
      return last;
    },
  },
  { label: "StateStore.save 1 MiB (x20)", run: (t) => storeSave(t, MIB, 20) },
  { label: "StateStore.save 16 MiB (x4)", run: (t) => storeSave(t, 16 * MIB, 4) },
);

const ONLY = opt("only", "");
if (ONLY) cases.splice(0, cases.length, ...cases.filter((c) => c.label.includes(ONLY)));
const trees = [await load("this tree", HERE), await load("base", BASE)];
const needsPools = cases.some((c) => c.label.includes("pool"));
if (needsPools) {
  await startPools(trees[0]!, HERE);
  await startPools(trees[1]!, BASE);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load0 = Deno.loadavg();
console.log(
  `tree_ab: Deno ${Deno.version.deno}, ${N} items, median of ${ROUNDS} rounds, this tree vs ${BASE}, ` +
    `load average ${load0.map((x) => x.toFixed(2)).join(" ")}, ${new Date().toISOString()}`,
);
const times = cases.map(() => trees.map(() => [] as number[]));
for (const c of cases) for (const t of trees) await c.run(t); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < cases.length; k++) {
    // Alternate which tree goes first, so that neither always runs right after the other.
    const order = (r + k) % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) {
      const t0 = performance.now();
      await cases[k]!.run(trees[i]!);
      times[k]![i]!.push(performance.now() - t0);
    }
  }
}
console.log("| case | this tree ms | base ms | ratio |");
console.log("|---|---:|---:|---:|");
for (let k = 0; k < cases.length; k++) {
  const a = median(times[k]![0]!);
  const b = median(times[k]![1]!);
  console.log(`| ${cases[k]!.label} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(3)} |`);
}
if (needsPools) { for (const t of trees) for (const p of Object.values(t.pools)) await p.close(); }
console.log(`load average at the end ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
