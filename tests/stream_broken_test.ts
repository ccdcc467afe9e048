/**
 * Broken sources, as a table: every stage of src/stream (a row) against every way a source can
 * break the iteration protocol (a kind). A new stage is covered by adding one row.
 *
 * Each cell checks what `for await` itself would do, with typed errors where `for await` would
 * give a bare `TypeError`: the source's own error passes through unchanged; a protocol violation
 * (a non-object result, a non-callable `[Symbol.asyncIterator]`) is an `InvalidArgumentError`;
 * a source that never settles still ends with `AbortedError` when the stage's signal is aborted.
 */
import assert from "node:assert/strict";
import { AbortedError, InvalidArgumentError } from "../src/errors.ts";
import {
  batch,
  filter,
  fromReadable,
  map,
  merge,
  ndjson,
  prefetch,
  progress,
  tee,
  toNdjson,
  toReadable,
  writeNdjson,
  zip,
} from "../src/stream/mod.ts";
import { settlesNow, within } from "./stream_helpers.ts";

/** Count the abort listeners on `signal` that have neither been removed nor fired. */
function countListeners(signal: AbortSignal, probe: { listeners: number }): void {
  const live = new Set<unknown>();
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, fn: EventListener, opts?: AddEventListenerOptions) => {
    if (type !== "abort") return add(type, fn, opts);
    const once = (e: Event) => {
      live.delete(fn);
      probe.listeners = live.size;
      fn(e);
    };
    live.add(fn);
    probe.listeners = live.size;
    wrapped.set(fn, once);
    add(type, once, opts);
  }) as typeof signal.addEventListener;
  const wrapped = new Map<unknown, EventListener>();
  signal.removeEventListener = ((type: string, fn: EventListener, opts?: EventListenerOptions) => {
    if (type !== "abort" || !wrapped.has(fn)) return remove(type, fn, opts);
    live.delete(fn);
    probe.listeners = live.size;
    remove(type, wrapped.get(fn)!, opts);
    wrapped.delete(fn);
  }) as typeof signal.removeEventListener;
}

/** The error a broken source throws on purpose (must reach the consumer unchanged). */
class SourceBoom extends Error {}

type Make = (source: unknown, signal: AbortSignal | undefined) => AsyncIterable<unknown>;

interface Row {
  name: string;
  /** Build the stage over `source` (`signal` is given to the kinds that need one). */
  make: Make;
  /** The i-th item a source yields for this row (default: `i`). */
  item?: (i: number) => unknown;
  /** A sink consumes its whole source: the kinds that break out of the loop do not apply. */
  sink?: boolean;
}

let dir = "";
const tmp = () => `${dir}/out-${crypto.randomUUID()}.ndjson`;

/** A sink as an async iterable of its one result, so every row is consumed the same way. */
async function* sinkResult(run: () => Promise<unknown>): AsyncGenerator<unknown> {
  yield await run();
}

const rows: Row[] = [
  { name: "prefetch", make: (s, signal) => prefetch(s as never, { size: 2, signal }) },
  { name: "batch by count", make: (s, signal) => batch(s as never, { size: 2, signal }) },
  {
    name: "batch by time",
    make: (s, signal) => batch(s as never, { size: 2, maxWaitMs: 60_000, signal }),
  },
  { name: "batch by bytes", make: (s, signal) => batch(s as never, { maxBytes: 16, signal }) },
  { name: "map", make: (s, signal) => map(s as never, (x) => x, { signal }) },
  {
    name: "map concurrency 3",
    make: (s, signal) => map(s as never, async (x) => await x, { concurrency: 3, signal }),
  },
  {
    name: "map concurrency 3 unordered",
    make: (s, signal) => map(s as never, (x) => x, { concurrency: 3, ordered: false, signal }),
  },
  { name: "filter", make: (s, signal) => filter(s as never, () => true, { signal }) },
  {
    name: "filter concurrency 3",
    make: (s, signal) => filter(s as never, () => true, { concurrency: 3, signal }),
  },
  { name: "tee", make: (s, signal) => tee(s as never, 1, { capacity: 2, signal })[0]! },
  {
    name: "tee, 2 branches (the other one returned at once)",
    make: (s, signal) => {
      const [a, b] = tee(s as never, 2, { capacity: 2, signal });
      void b!.return();
      return a!;
    },
  },
  {
    name: "batch by count over prefetch (the synchronous poll path)",
    // Only the batch has the signal: its abort must end a wait on the prefetch's buffer too.
    make: (s, signal) => batch(prefetch(s as never, { size: 4 }), { size: 2, signal }),
  },
  { name: "merge", make: (s, signal) => merge(s as never, { signal }) },
  { name: "zip", make: (s, signal) => zip(s as never, { signal }) },
  { name: "ndjson", item: (i) => String(i), make: (s, signal) => ndjson(s as never, { signal }) },
  { name: "toNdjson", make: (s, signal) => toNdjson(s as never, { signal }) },
  {
    name: "progress",
    make: (s, signal) => progress(s as never, { output: () => {}, signal }),
  },
  {
    name: "toReadable + fromReadable",
    make: (s, signal) => fromReadable(toReadable(s as never, { signal }), { signal }),
  },
  {
    name: "writeNdjson",
    sink: true,
    make: (s, signal) => sinkResult(() => writeNdjson(tmp(), s as never, { signal })),
  },
];

/** What a source saw. */
interface Probe {
  /** `next()` calls made after the source had answered `done`. */
  afterDone: number;
  /** `return()` calls. */
  returns: number;
  /** Abort listeners the stage has on the signal right now (added minus removed or fired). */
  listeners: number;
}

interface Kind {
  name: string;
  /** Build the broken source; `item(i)` is the row's i-th item. */
  source(item: (i: number) => unknown, probe: Probe, ctl: AbortController): unknown;
  /** Give the stage a signal (`ctl.signal`). */
  signal?: boolean;
  /** Break out of the loop after this many items. */
  breakAfter?: number;
  /** Check the outcome: `run` is the consumption, `expected(n)` the row's output for n items. */
  check(
    run: Promise<unknown[]>,
    expected: (n: number) => Promise<unknown[]>,
    probe: Probe,
  ): Promise<void>;
}

/** An async iterable whose iterator is `it`. */
function asyncSource(it: object): AsyncIterable<unknown> {
  return { [Symbol.asyncIterator]: () => it } as AsyncIterable<unknown>;
}

/** An async iterator that yields `n` items, then calls `then()` for every later `next()`. */
function after(
  n: number,
  item: (i: number) => unknown,
  then: () => unknown,
  extra: object = {},
): object {
  let i = 0;
  return {
    next() {
      if (i < n) return Promise.resolve({ done: false, value: item(i++) });
      return then();
    },
    ...extra,
  };
}

const endlessWith = (item: (i: number) => unknown, extra: object) => {
  let i = 0;
  return { next: () => Promise.resolve({ done: false, value: item(i++) }), ...extra };
};

const rejectsWith =
  <E>(cls: new (...a: never[]) => E, pattern?: RegExp) => async (run: Promise<unknown[]>) => {
    await assert.rejects(run, (e: unknown) => {
      assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
      if (pattern) assert.match((e as Error).message, pattern);
      return true;
    });
  };

const kinds: Kind[] = [
  {
    name: "next() throws synchronously",
    source: (item) =>
      asyncSource(after(2, item, () => {
        throw new SourceBoom("next threw");
      })),
    check: rejectsWith(SourceBoom),
  },
  {
    name: "next() rejects",
    source: (item) => asyncSource(after(2, item, () => Promise.reject(new SourceBoom("rejected")))),
    check: rejectsWith(SourceBoom),
  },
  {
    name: "next() resolves to a non-object",
    source: (item) => asyncSource(after(1, item, () => Promise.resolve(42))),
    check: rejectsWith(InvalidArgumentError, /iterator result.*received 42/),
  },
  {
    name: "next() returns a non-object without a promise",
    source: (item) => asyncSource(after(1, item, () => 42)),
    check: rejectsWith(InvalidArgumentError, /iterator result.*received 42/),
  },
  {
    name: "next() returns a plain result object, not a promise (allowed, as in for await)",
    source: (item) => {
      let i = 0;
      return asyncSource({
        next: () => i < 3 ? { done: false, value: item(i++) } : { done: true, value: undefined },
      });
    },
    check: async (run, expected) => assert.deepEqual(await run, await expected(3)),
  },
  {
    name: "next() never settles, the signal is aborted",
    signal: true,
    source: (item, _probe, ctl) =>
      asyncSource(after(1, item, () => {
        setTimeout(() => ctl.abort(new Error("stop waiting")), 0);
        return new Promise(() => {});
      })),
    check: rejectsWith(AbortedError),
  },
  {
    name: "the signal is aborted before the first item",
    signal: true,
    source: (item, _probe, ctl) => {
      ctl.abort(new Error("already"));
      return asyncSource(after(3, item, () => Promise.resolve({ done: true, value: undefined })));
    },
    check: rejectsWith(AbortedError),
  },
  {
    name: "a signal never aborted: its listener is removed when the stage ends",
    signal: true,
    source: (item) => {
      let i = 0;
      return asyncSource({
        next: () =>
          Promise.resolve(i < 3 ? { done: false, value: item(i++) } : { done: true, value: 0 }),
      });
    },
    check: async (run, expected, probe) => {
      assert.deepEqual(await run, await expected(3));
      assert.equal(probe.listeners, 0, "abort listener left on the signal");
    },
  },
  {
    name: "a signal never aborted: its listener is removed when the consumer breaks",
    signal: true,
    breakAfter: 1,
    source: (item) => asyncSource(endlessWith(item, {})),
    check: async (run, expected, probe) => {
      assert.deepEqual(await run, (await expected(2)).slice(0, 1));
      assert.equal(probe.listeners, 0, "abort listener left on the signal");
    },
  },
  {
    name: "return() throws when the consumer breaks",
    breakAfter: 1,
    source: (item, probe) =>
      asyncSource(endlessWith(item, {
        return() {
          probe.returns++;
          throw new SourceBoom("return threw");
        },
      })),
    check: rejectsWith(SourceBoom),
  },
  {
    name: "return() rejects when the consumer breaks",
    breakAfter: 1,
    source: (item, probe) =>
      asyncSource(endlessWith(item, {
        return() {
          probe.returns++;
          return Promise.reject(new SourceBoom("return rejected"));
        },
      })),
    check: rejectsWith(SourceBoom),
  },
  {
    name: "return() is missing when the consumer breaks",
    breakAfter: 1,
    source: (item) => asyncSource(endlessWith(item, {})),
    check: async (run, expected) => assert.deepEqual(await run, (await expected(2)).slice(0, 1)),
  },
  {
    name: "[Symbol.asyncIterator] is not a function",
    source: () => ({ [Symbol.asyncIterator]: 42 }),
    check: rejectsWith(InvalidArgumentError, /Symbol\.asyncIterator/),
  },
  {
    name: "[Symbol.asyncIterator]() throws",
    source: () => ({
      [Symbol.asyncIterator]() {
        throw new SourceBoom("no iterator for you");
      },
    }),
    check: rejectsWith(SourceBoom),
  },
  {
    name: "[Symbol.asyncIterator]() returns a non-object",
    source: () => ({ [Symbol.asyncIterator]: () => 7 }),
    check: rejectsWith(InvalidArgumentError, /iterator/),
  },
  {
    name: "the iterator has no next()",
    source: () => ({ [Symbol.asyncIterator]: () => ({}) }),
    check: rejectsWith(InvalidArgumentError, /next/),
  },
  {
    name: "the iterator yields again after done",
    source: (item, probe) => {
      let calls = 0;
      return asyncSource({
        next() {
          calls++;
          if (calls === 1) return Promise.resolve({ done: false, value: item(0) });
          if (calls > 2) probe.afterDone++;
          if (calls === 2) return Promise.resolve({ done: true, value: undefined });
          return Promise.resolve({ done: false, value: item(99) });
        },
      });
    },
    check: async (run, expected, probe) => {
      assert.deepEqual(await run, await expected(1));
      assert.equal(probe.afterDone, 0, "next() called after done");
    },
  },
  {
    name: "a sync iterator's next() throws",
    source: (item) => {
      let i = 0;
      return {
        [Symbol.iterator]: () => ({
          next() {
            if (i < 2) return { done: false, value: item(i++) };
            throw new SourceBoom("sync next threw");
          },
        }),
      };
    },
    check: rejectsWith(SourceBoom),
  },
  {
    name: "a sync iterator's next() returns a non-object",
    source: (item) => {
      let i = 0;
      return {
        [Symbol.iterator]: () => ({
          next: () => i < 1 ? { done: false, value: item(i++) } : 42,
        }),
      };
    },
    check: rejectsWith(InvalidArgumentError, /iterator result.*received 42/),
  },
  {
    name: "a sync iterator's return() throws when the consumer breaks",
    breakAfter: 1,
    source: (item, probe) => {
      let i = 0;
      return {
        [Symbol.iterator]: () => ({
          next: () => ({ done: false, value: item(i++) }),
          return() {
            probe.returns++;
            throw new SourceBoom("sync return threw");
          },
        }),
      };
    },
    check: rejectsWith(SourceBoom),
  },
  {
    name: "a sync iterator yields a rejected promise (it is awaited, then the iterator closed)",
    source: (item, probe) => {
      let i = 0;
      return {
        [Symbol.iterator]: () => ({
          next: () =>
            i < 2
              ? { done: false, value: item(i++) }
              : { done: false, value: Promise.reject(new SourceBoom("item rejected")) },
          return() {
            probe.returns++;
            return { done: true, value: undefined };
          },
        }),
      };
    },
    check: async (run, _expected, probe) => {
      await rejectsWith(SourceBoom)(run);
      assert.equal(probe.returns, 1, "the sync iterator is closed once, as for await does");
    },
  },
  {
    name: "[Symbol.iterator] is not a function",
    source: () => ({ [Symbol.iterator]: "nope" }),
    check: rejectsWith(InvalidArgumentError, /Symbol\.iterator/),
  },
  {
    name: "a string (iterating characters is refused)",
    source: () => "abc",
    check: rejectsWith(InvalidArgumentError, /string/),
  },
  {
    name: "not iterable at all",
    source: () => ({ length: 3 }),
    check: rejectsWith(InvalidArgumentError, /iterable/),
  },
];

/**
 * Consume `make()` (a sync throw of `make` becomes a rejection), breaking after `breakAfter`;
 * the stage is kept in `held.stage` for the checks after the run.
 */
async function consume(
  make: () => AsyncIterable<unknown>,
  breakAfter?: number,
  held: { stage?: AsyncIterable<unknown> } = {},
) {
  const out: unknown[] = [];
  held.stage = make();
  for await (const x of held.stage) {
    out.push(x);
    // A stage that yields forever (undefined items from a broken source) fails here.
    if (out.length > 1000) throw new Error("runaway: more than 1000 items from 3 at most");
    if (breakAfter !== undefined && out.length >= breakAfter) break;
  }
  return out;
}

Deno.test({
  name: "broken sources: setup",
  fn: async () => {
    dir = await Deno.makeTempDir({ prefix: "spool-broken-" });
  },
});

for (const row of rows) {
  for (const kind of kinds) {
    if (row.sink && kind.breakAfter !== undefined) continue;
    Deno.test(`broken source: ${row.name}: ${kind.name}`, async () => {
      const item = row.item ?? ((i: number) => i);
      const probe: Probe = { afterDone: 0, returns: 0, listeners: 0 };
      const ctl = new AbortController();
      countListeners(ctl.signal, probe);
      const source = kind.source(item, probe, ctl);
      const signal = kind.signal ? ctl.signal : undefined;
      const expected = async (n: number) =>
        await consume(() => row.make(Array.from({ length: n }, (_, i) => item(i)), undefined));
      const held: { stage?: AsyncIterable<unknown> } = {};
      const run = consume(() => row.make(source, signal), kind.breakAfter, held);
      // Generous: a cell that hangs fails here instead of hanging the suite.
      await within(kind.check(run, expected, probe), 10_000, `${row.name}: ${kind.name}`);
      // Sticky end: however it ended, the stage answers done at once (a failure is reported once).
      const stage = held.stage as AsyncIterator<unknown> | undefined;
      if (stage !== undefined && !row.sink && typeof stage.next === "function") {
        const again = stage.next();
        assert.equal(await settlesNow(again), true, "next() after the end must not wait");
        assert.equal((await again).done, true, "next() after the end must be done");
      }
    });
  }
}

Deno.test({
  name: "broken sources: teardown",
  fn: async () => {
    await Deno.remove(dir, { recursive: true });
  },
});
