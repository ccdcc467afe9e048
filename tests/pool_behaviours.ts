// The map contract of a pool, written once and run against every backend
// (tests/pool_behaviours_test.ts: WorkerPool threads, WorkerPool processes, NatsPool with remote
// worker processes). Each spec takes a started pool of the one fixture module
// (tests/fixtures/pool_behaviours_worker.ts, init `{ factor: FACTOR }`) and checks what a caller
// of `pool.map` sees: order, laziness, the window, chunks, spread, the error policies,
// passThrough, abort, break, sized results, close and option errors. Worker indexes are never
// compared (they differ between backends), and nothing is timed.
import assert from "node:assert/strict";
import { AbortedError, ClosedError, InvalidArgumentError, TimeoutError } from "../src/errors.ts";
import { TaskError } from "../src/pool/mod.ts";
import type { PoolMapOptions } from "../src/pool/mod.ts";
import type { BehaviourInput } from "./fixtures/pool_behaviours_worker.ts";

/** The init args every backend's workers get. */
export const FACTOR = 3;
/** The fixture every backend loads. */
export const MODULE: URL = new URL("./fixtures/pool_behaviours_worker.ts", import.meta.url);

/** A result of `errors: "collect"`, loosely typed (the specs check its fields). */
export interface Loose {
  ok: boolean;
  value?: unknown;
  error?: TaskError;
  index: number;
  input: unknown;
  passed?: boolean;
}

/** `pool.map`, loosely typed: every backend's map has this shape. */
export type LooseMap = (
  source: unknown,
  options?: PoolMapOptions,
) => AsyncIterableIterator<unknown> & { readonly length?: number };

/** What a spec needs of a pool. */
export interface BehaviourPool {
  map: LooseMap;
  close(): Promise<void>;
}

/** A backend under test. */
export interface Backend {
  /** Shown in the step names. */
  readonly name: string;
  /** A started pool of `module` whose workers got `init` (the factory may refuse other values). */
  start(module: URL, options: { init: { factor: number } }): Promise<BehaviourPool>;
  /** Specs this backend cannot keep today, by name, with the reason. */
  readonly notApplicable?: Readonly<Record<string, string>>;
}

/** One behaviour of the map contract. */
export interface Spec {
  readonly name: string;
  run(pool: BehaviourPool): Promise<void>;
}

/**
 * Run every spec as a step of `t`, each on a pool of its own; a spec the backend marks not
 * applicable is an ignored step whose name gives the reason.
 */
export async function runBehaviours(t: Deno.TestContext, backend: Backend): Promise<void> {
  for (const spec of SPECS) {
    const reason = backend.notApplicable?.[spec.name];
    if (reason !== undefined) {
      await t.step({ name: `${spec.name} (not applicable: ${reason})`, ignore: true, fn() {} });
      continue;
    }
    await t.step(spec.name, async () => {
      const pool = await backend.start(MODULE, { init: { factor: FACTOR } });
      try {
        await spec.run(pool);
      } finally {
        await pool.close();
      }
    });
  }
}

/** Every item of a map. */
async function collect(it: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* asyncOf<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const x of items) yield x;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Tasks of random duration (0-7 ms) giving their position. */
const sleepers = (n: number): BehaviourInput[] =>
  range(n).map((value) => ({ sleep: Math.floor(Math.random() * 8), value }));

/** A source that counts what was pulled and whether it was closed. */
function counted<T>(items: Iterable<T>) {
  const state = { pulled: 0, closed: false, consumed: 0, maxAhead: 0 };
  function* gen(): Generator<T> {
    try {
      for (const x of items) {
        state.pulled++;
        state.maxAhead = Math.max(state.maxAhead, state.pulled - state.consumed);
        yield x;
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, source: gen() };
}

function* naturals(): Generator<number> {
  for (let i = 0;; i++) yield i;
}

/** The pool still maps correctly (after a map that ended early or failed). */
async function stillServes(pool: BehaviourPool): Promise<void> {
  assert.deepEqual(await collect(pool.map([1, 2, 3])), [FACTOR, 2 * FACTOR, 3 * FACTOR]);
}

/** The cause of a collected failure, as `Name: message`. */
const causeOf = (r: Loose) => {
  const c = r.error?.cause as Error | undefined;
  return c === undefined ? "" : `${c.name}: ${c.message}`;
};

/** The map contract, in the order the steps run. */
export const SPECS: readonly Spec[] = [
  {
    name: "ordered: results come in input order under random task durations",
    async run(pool) {
      const items = sleepers(40);
      assert.deepEqual(await collect(pool.map(items, { maxInFlight: 12 })), range(40));
    },
  },
  {
    name: "unordered: every input comes out exactly once",
    async run(pool) {
      const got = await collect(
        pool.map(sleepers(60), { ordered: false, maxInFlight: 12, errors: "collect" }),
      ) as Loose[];
      assert.equal(got.length, 60);
      assert.deepEqual(got.map((r) => r.index).sort((a, b) => a - b), range(60));
      for (const r of got) assert.ok(r.ok && r.value === r.index, JSON.stringify(r));
    },
  },
  {
    name: "sized results: an array source gives a map with its length, an async source none",
    async run(pool) {
      const sized = pool.map(range(17));
      assert.equal(sized.length, 17);
      assert.deepEqual(await collect(sized), range(17).map((x) => x * FACTOR));
      const unsized = pool.map(asyncOf(range(5)));
      assert.equal(unsized.length, undefined);
      assert.deepEqual(await collect(unsized), range(5).map((x) => x * FACTOR));
    },
  },
  {
    name: "async source: results in order with their indexes (auto chunks)",
    async run(pool) {
      const got = await collect(
        pool.map(asyncOf(range(300)), { chunkSize: "auto", errors: "collect" }),
      ) as Loose[];
      assert.deepEqual(got.map((r) => r.index), range(300));
      assert.deepEqual(got.map((r) => r.value), range(300).map((x) => x * FACTOR));
    },
  },
  {
    name: "chunkSize: fixed and auto chunks keep order, a failure in a chunk names its own index",
    async run(pool) {
      const inputs = range(200).map((x) => (x === 123 ? -123 : x));
      for (const chunkSize of [1, 7, "auto"] as const) {
        const got = await collect(pool.map(inputs, { chunkSize, errors: "collect" })) as Loose[];
        assert.deepEqual(got.map((r) => r.index), range(200), `chunkSize ${chunkSize}`);
        assert.deepEqual(got.filter((r) => !r.ok).map((r) => r.index), [123]);
        for (const r of got) if (r.ok) assert.equal(r.value, r.index * FACTOR);
      }
    },
  },
  {
    name: "a slow async source is not held back to fill a large chunk",
    async run(pool) {
      let sourceDone = false;
      let sawFirst!: () => void;
      const first = new Promise<void>((resolve) => (sawFirst = resolve));
      async function* slow() {
        yield 0;
        // The source goes on once the first result is out. Should the pool hold input 0 back to
        // fill its chunk, the source goes on after 10 s and the assertion below fails (no hang).
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([first, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
        clearTimeout(timer);
        for (let i = 1; i < 4; i++) yield i;
        sourceDone = true;
      }
      const beforeEnd: boolean[] = [];
      for await (const _ of pool.map(slow(), { chunkSize: 100 })) {
        beforeEnd.push(!sourceDone);
        sawFirst();
      }
      assert.equal(beforeEnd.length, 4);
      assert.equal(beforeEnd[0], true, "the first result came before the source ended");
    },
  },
  {
    name: "lazy source: an infinite source is read at most maxInFlight ahead, and closed on break",
    async run(pool) {
      const { state, source } = counted(naturals());
      let seen = 0;
      for await (const y of pool.map(source, { maxInFlight: 10 })) {
        assert.equal(y, seen * FACTOR);
        if (++seen === 25) break;
      }
      assert.ok(state.pulled <= 25 + 10, `pulled ${state.pulled}`);
      assert.ok(state.closed, "the source was closed on break");
      await stillServes(pool);
    },
  },
  {
    name: "maxInFlight bounds the inputs read and not yet consumed (chunks of 1 and 3)",
    async run(pool) {
      for (const chunkSize of [1, 3]) {
        const { state, source } = counted(sleepers(60));
        const out: unknown[] = [];
        for await (const y of pool.map(source, { maxInFlight: 6, chunkSize })) {
          state.consumed++;
          out.push(y);
        }
        assert.deepEqual(out, range(60));
        // The result being handed over leaves the window (and its slot is refilled) before the
        // loop body above counts it: one more than maxInFlight is seen from here, never two.
        assert.ok(state.maxAhead <= 6 + 1, `chunkSize ${chunkSize}: ${state.maxAhead} ahead`);
        assert.ok(state.maxAhead >= 2, `the window was used: ${state.maxAhead} ahead`);
      }
    },
  },
  {
    name: 'errors "throw": the first failure ends the map with a TaskError (index, input, cause)',
    async run(pool) {
      const inputs = range(30).map((x) => (x === 10 ? -10 : x));
      const out: unknown[] = [];
      await assert.rejects(
        async () => {
          for await (const y of pool.map(inputs)) out.push(y);
        },
        (e: unknown) => {
          assert.ok(e instanceof TaskError, String(e));
          assert.equal(e.index, 10);
          assert.equal(e.received, -10);
          assert.ok(e.cause instanceof RangeError, String(e.cause));
          assert.equal((e.cause as Error).message, "negative input -10");
          return true;
        },
      );
      assert.ok(out.length <= 10, `${out.length} results before the failure`);
      assert.deepEqual(out, range(out.length).map((x) => x * FACTOR));
      await stillServes(pool);
    },
  },
  {
    name: 'errors "throw-after-drain": every result before the failure comes out, then it raises',
    async run(pool) {
      const inputs = range(40).map((x) => (x === 25 ? -25 : x));
      const out: unknown[] = [];
      await assert.rejects(
        async () => {
          for await (const y of pool.map(inputs, { errors: "throw-after-drain" })) out.push(y);
        },
        (e: unknown) => e instanceof TaskError && e.index === 25,
      );
      assert.deepEqual(out, range(25).map((x) => x * FACTOR));
    },
  },
  {
    name:
      'errors "throw-after-drain" unordered: what completed comes out once, the source is closed, then it raises',
    async run(pool) {
      const inputs = range(100).map((x) => (x === 40 ? -40 : x));
      const { state, source } = counted(inputs);
      const out: number[] = [];
      await assert.rejects(
        async () => {
          const options = { errors: "throw-after-drain", ordered: false, maxInFlight: 8 } as const;
          for await (const y of pool.map(source, options)) out.push(y as number);
        },
        (e: unknown) => e instanceof TaskError && e.index === 40,
      );
      assert.ok(out.length >= 1);
      for (const y of out) assert.ok(y % FACTOR === 0 && y !== 40 * FACTOR && y < 100 * FACTOR);
      assert.ok(state.closed, "the source was closed");
      assert.equal(new Set(out).size, out.length, "no result twice");
    },
  },
  {
    name: 'errors "collect": each result is { ok, value | error, index, input }',
    async run(pool) {
      const inputs = [4, -1, 5, -2];
      const got = await collect(pool.map(inputs, { errors: "collect" })) as Loose[];
      assert.deepEqual(got.map((r) => [r.ok, r.index, r.input]), [
        [true, 0, 4],
        [false, 1, -1],
        [true, 2, 5],
        [false, 3, -2],
      ]);
      assert.deepEqual([got[0]!.value, got[2]!.value], [4 * FACTOR, 5 * FACTOR]);
      assert.ok(got[1]!.error instanceof TaskError && got[1]!.error.index === 1);
      assert.equal(causeOf(got[1]!), "RangeError: negative input -1");
      assert.equal(causeOf(got[3]!), "RangeError: negative input -2");
    },
  },
  {
    name: "passThrough: marked inputs come out unchanged at their place, marked passed",
    async run(pool) {
      const inputs: unknown[] = [1, "a", 2, 3, "b", 4];
      const passThrough = (x: unknown) => typeof x === "string";
      for (const chunkSize of [1, 4]) {
        const out = await collect(pool.map(inputs, { passThrough, chunkSize }));
        assert.deepEqual(out, [FACTOR, "a", 2 * FACTOR, 3 * FACTOR, "b", 4 * FACTOR]);
      }
      const got = await collect(pool.map(inputs, { passThrough, errors: "collect" })) as Loose[];
      assert.deepEqual(got.map((r) => [r.index, r.passed === true]), [
        [0, false],
        [1, true],
        [2, false],
        [3, false],
        [4, true],
        [5, false],
      ]);
      assert.deepEqual([got[1]!.value, got[1]!.input], ["a", "a"]);
    },
  },
  {
    name: "unordered: a pass-through input is a fence between earlier and later results",
    async run(pool) {
      const slow = (value: number) => ({ sleep: 20 - value, value });
      const inputs = [slow(0), slow(1), slow(2), "x", slow(4), slow(5), "y", slow(7)];
      const passThrough = (x: unknown) => typeof x === "string";
      const order = await collect(pool.map(inputs, { ordered: false, passThrough }));
      assert.deepEqual(order.slice(0, 3).sort(), [0, 1, 2]);
      assert.equal(order[3], "x");
      assert.deepEqual(order.slice(4, 6).sort(), [4, 5]);
      assert.deepEqual(order.slice(6), ["y", 7]);
    },
  },
  {
    name: "spread: each input array becomes the arguments of process(), a non-array fails alone",
    async run(pool) {
      const got = await collect(pool.map([[1, "a"], [2, "b"]], { spread: true }));
      assert.deepEqual(got, ["a1", "b2"]);
      const mixed = await collect(
        pool.map([[3, "c"], 4], { spread: true, errors: "collect" }),
      ) as Loose[];
      assert.deepEqual(mixed.map((r) => r.ok), [true, false]);
      assert.equal(mixed[0]!.value, "c3");
      assert.match(causeOf(mixed[1]!), /each input must be an array of arguments/);
    },
  },
  {
    name:
      "AbortSignal: an abort mid-map rejects with its reason, nothing more comes out, the source is closed",
    async run(pool) {
      const ac = new AbortController();
      const reason = new Error("stop here");
      const { state, source } = counted(naturals());
      const out: unknown[] = [];
      await assert.rejects(
        async () => {
          for await (const y of pool.map(source, { signal: ac.signal, maxInFlight: 8 })) {
            out.push(y);
            if (out.length === 5) ac.abort(reason);
          }
        },
        (e: unknown) => e instanceof AbortedError && e.cause === reason,
      );
      assert.equal(out.length, 5);
      assert.ok(state.closed, "the source was closed");
      const pulled = state.pulled;
      await stillServes(pool); // time passes: the aborted map pulls nothing more
      assert.equal(state.pulled, pulled);
      // a signal aborted before the map starts: it fails at once
      await assert.rejects(
        () => pool.map([1], { signal: AbortSignal.abort(reason) }).next(),
        AbortedError,
      );
    },
  },
  {
    name: "early break: return() closes the source mid-map, and the pool serves the next map",
    async run(pool) {
      const { state, source } = counted(range(50).map((value) => ({ sleep: 5, value })));
      const out: unknown[] = [];
      for await (const y of pool.map(source, { maxInFlight: 8 })) {
        out.push(y);
        if (out.length === 3) break;
      }
      assert.deepEqual(out, [0, 1, 2]);
      assert.ok(state.closed);
      assert.ok(state.pulled < 50, `pulled ${state.pulled}`);
      await stillServes(pool);
    },
  },
  {
    name: "a failing source raises its own error, and the pool serves the next map",
    async run(pool) {
      async function* broken() {
        yield 1;
        yield 2;
        throw new SyntaxError("source broke");
      }
      const out: unknown[] = [];
      await assert.rejects(async () => {
        for await (const y of pool.map(broken())) out.push(y);
      }, (e: unknown) => e instanceof SyntaxError && e.message === "source broke");
      assert.ok(out.length <= 2);
      await stillServes(pool);
    },
  },
  {
    name: "several maps on one pool at once each get their own results",
    async run(pool) {
      const a = collect(pool.map(sleepers(30)));
      const b = collect(pool.map(range(30), { chunkSize: 4 }));
      const c = collect(pool.map(sleepers(30).map((x) => x), { ordered: false }));
      const [ra, rb, rc] = await Promise.all([a, b, c]);
      assert.deepEqual(ra, range(30));
      assert.deepEqual(rb, range(30).map((x) => x * FACTOR));
      assert.deepEqual((rc as number[]).sort((x, y) => x - y), range(30));
    },
  },
  {
    name: "bad options and a non-iterable source are InvalidArgumentErrors",
    async run(pool) {
      for (
        const bad of [
          { chunksize: 4 },
          { ordered: "yes" },
          { spread: 1 },
          { chunkSize: 0 },
          { maxInFlight: -1 },
          { errors: "ignore" },
          { signal: {} },
          { passThrough: 1 },
        ]
      ) {
        assert.throws(() => pool.map([1], bad as never), InvalidArgumentError, JSON.stringify(bad));
      }
      assert.throws(() => pool.map([1], 5 as never), InvalidArgumentError);
      for (const source of [42, "abc", null]) {
        // refused at the call or at the first next(), never a result
        await assert.rejects(async () => {
          for await (const _ of pool.map(source)) assert.fail("a result");
        }, InvalidArgumentError);
      }
    },
  },
  {
    name:
      "close(): an active map fails with a ClosedError, a new map is refused, close twice is fine",
    async run(pool) {
      const it = pool.map([{ sleep: 300, value: 1 }, 2, 3]);
      const first = assert.rejects(it.next(), ClosedError);
      await pool.close();
      await first;
      assert.throws(() => pool.map([1]), ClosedError);
      await pool.close();
    },
  },
  {
    name: "timeoutMs: an input running past it fails with a TimeoutError, the others succeed",
    async run(pool) {
      const got = await collect(
        pool.map([1, { stall: true }, 3], { timeoutMs: 1000, errors: "collect" }),
      ) as Loose[];
      assert.deepEqual(got.map((r) => r.ok), [true, false, true]);
      assert.ok(got[1]!.error?.cause instanceof TimeoutError, String(got[1]!.error?.cause));
      assert.deepEqual([got[0]!.value, got[2]!.value], [FACTOR, 3 * FACTOR]);
    },
  },
];

/** The name of a spec (typo-safe references from the backends' `notApplicable`). */
export function specNamed(prefix: string): string {
  const found = SPECS.filter((s) => s.name.startsWith(prefix));
  if (found.length !== 1) throw new Error(`${found.length} specs start with "${prefix}"`);
  return found[0]!.name;
}
