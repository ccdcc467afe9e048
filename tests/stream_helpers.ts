/**
 * Test helpers for the stream tests: sources that record what happened to them.
 *
 * @module
 */

/** What a tracked source saw. */
export interface Track {
  /** Items produced so far. */
  pulled: number;
  /** `return()` ran before the source finished (the consumer stopped it). */
  returned: boolean;
  /** The source ran to its end. */
  finished: boolean;
  /** The source threw its planned error. */
  threw: boolean;
}

/** Options of {@linkcode tracked}. */
export interface TrackedOptions {
  /** Throw `error` instead of producing item `failAt`. */
  failAt?: number;
  /** The error to throw (default `new Error("boom")`). */
  error?: unknown;
  /** Awaited before producing each item. */
  delay?: (index: number) => Promise<void>;
}

/** An async generator over `items` (or 0..n-1) that records pulls and how it ended. */
export function tracked<T = number>(
  items: T[] | number,
  options: TrackedOptions = {},
): [AsyncGenerator<T>, Track] {
  const list = typeof items === "number" ? Array.from({ length: items }, (_, i) => i as T) : items;
  const track: Track = { pulled: 0, returned: false, finished: false, threw: false };
  async function* gen(): AsyncGenerator<T> {
    try {
      for (let i = 0; i < list.length; i++) {
        if (options.delay) await options.delay(i);
        if (options.failAt === i) {
          track.threw = true;
          throw options.error ?? new Error("boom");
        }
        track.pulled++;
        yield list[i]!;
      }
      track.finished = true;
    } finally {
      if (!track.finished && !track.threw) track.returned = true;
    }
  }
  return [gen(), track];
}

/** An endless tracked source (0, 1, 2, ...). */
export function endless(): [AsyncGenerator<number>, Track] {
  const track: Track = { pulled: 0, returned: false, finished: false, threw: false };
  async function* gen(): AsyncGenerator<number> {
    try {
      for (let i = 0;; i++) {
        track.pulled++;
        yield i;
      }
    } finally {
      track.returned = true;
    }
  }
  return [gen(), track];
}

/** Let timers and I/O callbacks run (`n` macrotask turns). */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Sleep `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const PENDING = Symbol("pending");

/**
 * Whether `p` settles before the next macrotask: a sticky finished stage must answer
 * `next()` from the microtask queue, never by waiting for anything.
 */
export async function settlesNow<T>(p: Promise<T>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const later = new Promise<typeof PENDING>((r) => timer = setTimeout(() => r(PENDING), 0));
  const winner = await Promise.race([p.then(() => true, () => true), later]);
  clearTimeout(timer);
  return winner !== PENDING;
}

/** A deterministic pseudo-random generator (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Collect every item of an async iterable. */
export async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of source) out.push(x);
  return out;
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

/**
 * Count live timers (Deno 2.9 reports a leaked `setTimeout` only with `--sanitize-ops` or the
 * test option `sanitizeOps: true`, off by default; this counts them in any case): patches
 * `setTimeout`/`clearTimeout` until disposed. `live` is the number of timers started and
 * neither fired nor cleared.
 */
export function timerTracker(): { readonly live: number; readonly started: number } & Disposable {
  const live = new Set<unknown>();
  let started = 0;
  const origSet = globalThis.setTimeout;
  const origClear = globalThis.clearTimeout;
  globalThis.setTimeout = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const id = origSet(() => {
      live.delete(id);
      fn(...args);
    }, ms);
    live.add(id);
    started++;
    return id;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id?: number) => {
    live.delete(id);
    origClear(id);
  }) as typeof clearTimeout;
  return {
    get live() {
      return live.size;
    },
    get started() {
      return started;
    },
    [Symbol.dispose]() {
      globalThis.setTimeout = origSet;
      globalThis.clearTimeout = origClear;
    },
  };
}

/**
 * `p`, or a rejection naming `what` when it has not settled after `ms` (a generous bound that
 * turns a hang into a failure; never a speed assertion). The timer is always cleared.
 */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
