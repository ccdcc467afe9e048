/**
 * `merge` (interleave as items arrive) and `zip` (tuples, stops at the shortest).
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { isRecord } from "../_internal/options.ts";
import { AbortLink, checkSignal } from "../_internal/abort.ts";
import {
  badResult,
  closeIterator,
  isAnyIterable,
  isResult,
  iteratorOf,
  nextOf,
  type Waiter,
  waiter,
} from "../_internal/iterate.ts";
import { checkOptions } from "../_internal/options.ts";
import { Ring } from "../_internal/ring.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { afterTurn, giveTurn, turnDue } from "../_internal/turn.ts";

/** Options of {@linkcode merge} and {@linkcode zip}, given after the sources. */
export interface MergeOptions {
  /**
   * Aborting it ends the stage at once: the waiting consumer (or the next `next()`) gets
   * `AbortedError` and every unfinished source is returned (without waiting for it).
   */
  signal?: AbortSignal;
}

/**
 * Split `merge(...args)` / `zip(...args)` into sources and options: a last argument that is a
 * plain object (prototype `Object.prototype` or null) and not iterable is the options object.
 */
function splitArgs(action: string, args: unknown[]): [unknown[], AbortSignal | undefined] {
  const last = args.at(-1);
  if (
    args.length > 0 && isRecord(last) && !isAnyIterable(last) &&
    (Object.getPrototypeOf(last) === Object.prototype || Object.getPrototypeOf(last) === null)
  ) {
    const o = checkOptions<MergeOptions>(action, last, ["signal"]);
    return [args.slice(0, -1), checkSignal(action, o.signal)];
  }
  return [args, undefined];
}

/** Open every source; when one is refused, return the ones already opened before throwing. */
function openAll(action: string, sources: unknown[]): AsyncIterator<unknown>[] {
  const its: AsyncIterator<unknown>[] = [];
  try {
    for (const s of sources) its.push(iteratorOf(action, s as AnyIterable<unknown>));
  } catch (error) {
    closeAll(its).catch(() => {});
    throw error;
  }
  return its;
}

/**
 * Return every iterator in `its`, all at once (a `return()` that throws synchronously does not
 * keep the others open); rethrow the first error after all settled.
 */
async function closeAll(its: AsyncIterator<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(its.map((it) => closeIterator(it)));
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

class Merger<T> implements Stage<T> {
  readonly #its: AsyncIterator<T>[];
  /** Per source: 0 idle, 1 pulling, 2 has an item queued, 3 done. */
  readonly #st: Uint8Array;
  readonly #values = new Ring<T>(8);
  readonly #from = new Ring<number>(8);
  readonly #waiters = new Ring<Waiter<T>>(2);
  readonly #onOk: ((r: IteratorResult<T>) => void)[] = [];
  readonly #onErr: ((e: unknown) => void)[] = [];
  #remaining: number;
  #started = false;
  #closed = false;
  #failure: { error: unknown } | null = null;
  /** The abort, reported once by the next `next()` when no consumer was waiting. */
  #aborted: { error: unknown } | null = null;
  readonly #link: AbortLink;

  constructor(its: AsyncIterator<T>[], signal: AbortSignal | undefined) {
    this.#its = its;
    this.#link = new AbortLink("merge sources", signal, () => this.#abort());
    this.#st = new Uint8Array(its.length);
    this.#remaining = its.length;
    for (let i = 0; i < its.length; i++) {
      this.#onOk.push((r) => this.#arrived(i, r));
      this.#onErr.push((e) => this.#failed(i, e));
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#aborted !== null) {
      const error = this.#aborted.error;
      this.#aborted = null;
      return Promise.reject(error);
    }
    if (!this.#started) {
      this.#started = true;
      if (this.#link.aborted) {
        this.#abort(); // closes: the next call reports the abort (once), then done
        return this.next();
      }
      for (let i = 0; i < this.#its.length; i++) this.#pull(i);
    }
    if (this.#values.length > 0) {
      const value = this.#values.shift();
      const i = this.#from.shift();
      this.#st[i] = 0;
      if (this.#failure === null && !this.#closed) this.#pull(i);
      // The item is taken now; when a turn is due it is handed over after the turn.
      return turnDue()
        ? afterTurn({ done: false, value })
        : Promise.resolve({ done: false, value });
    }
    if (this.#failure !== null) return this.#fail();
    if (this.#closed || this.#remaining === 0) {
      this.#closed = true;
      this.#link.detach();
      return Promise.resolve({ done: true, value: undefined });
    }
    const [p, w] = waiter<T>();
    this.#waiters.push(w);
    return p;
  }

  #pull(i: number): void {
    this.#st[i] = 1;
    nextOf(this.#its[i]!).then(this.#onOk[i], this.#onErr[i]);
  }

  /** The signal fired: close now, return the open sources without waiting, report once. */
  #abort(): void {
    if (this.#closed) return;
    const error = this.#link.error();
    this.#closed = true;
    this.#failure = null;
    this.#values.clear();
    this.#from.clear();
    this.#link.detach();
    closeAll(this.#openSources()).catch(() => {});
    if (this.#waiters.length > 0) {
      this.#waiters.shift().reject(error);
      while (this.#waiters.length > 0) {
        this.#waiters.shift().resolve({ done: true, value: undefined });
      }
    } else {
      this.#aborted = { error };
    }
  }

  #arrived(i: number, r: IteratorResult<T>): void {
    if (this.#closed) return;
    if (!isResult(r)) return this.#failed(i, badResult("merge sources", r));
    if (r.done) {
      this.#st[i] = 3;
      this.#remaining--;
      if (this.#remaining === 0 && this.#values.length === 0) {
        this.#closed = true;
        this.#link.detach();
        while (this.#waiters.length > 0) {
          this.#waiters.shift().resolve({ done: true, value: undefined });
        }
      }
      return;
    }
    if (this.#waiters.length > 0) {
      this.#st[i] = 0;
      const w = this.#waiters.shift();
      if (turnDue()) afterTurn({ done: false, value: r.value }).then(w.resolve);
      else w.resolve({ done: false, value: r.value });
      if (this.#failure === null) this.#pull(i);
      return;
    }
    this.#st[i] = 2;
    this.#values.push(r.value);
    this.#from.push(i);
  }

  #failed(i: number, error: unknown): void {
    if (this.#closed) return;
    this.#st[i] = 3;
    this.#remaining--;
    if (this.#failure !== null) return;
    this.#failure = { error };
    if (this.#waiters.length > 0) {
      const w = this.#waiters.shift();
      this.#fail().then(w.resolve, w.reject);
    }
  }

  /** Return the other sources, then throw the failure (once). */
  async #fail(): Promise<IteratorResult<T>> {
    const error = this.#failure!.error;
    this.#failure = null;
    this.#closed = true;
    this.#link.detach();
    this.#values.clear();
    this.#from.clear();
    try {
      await closeAll(this.#openSources());
    } catch { /* the source's error is the one reported */ }
    while (this.#waiters.length > 0) {
      this.#waiters.shift().resolve({ done: true, value: undefined });
    }
    throw error;
  }

  #openSources(): AsyncIterator<T>[] {
    const open: AsyncIterator<T>[] = [];
    for (let i = 0; i < this.#its.length; i++) {
      if (this.#st[i] !== 3) {
        this.#st[i] = 3;
        open.push(this.#its[i]!);
      }
    }
    return open;
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    this.#aborted = null;
    if (!this.#closed) {
      this.#closed = true;
      this.#link.detach();
      this.#values.clear();
      this.#from.clear();
      while (this.#waiters.length > 0) {
        this.#waiters.shift().resolve({ done: true, value: undefined });
      }
      await closeAll(this.#openSources());
    }
    return { done: true, value: value as T };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/**
 * Interleave the items of several sources in the order they arrive.
 *
 * Every source is pulled concurrently, one item at a time: a source is pulled again only after
 * its previous item was delivered, so a slow consumer holds every source back. The first source
 * error is thrown at the consumer (after the items that arrived before it) and the other
 * sources are returned. An early `break` returns every unfinished source. With no sources the
 * result is empty. When every source has a `length`, the result has their sum.
 *
 * @param sources sync or async iterables, optionally followed by options (`{ signal }`)
 * @returns an async iterable iterator of their items
 * @throws {InvalidArgumentError} when a source is not iterable
 *
 * @example
 * ```ts
 * import { merge } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const all: number[] = [];
 * for await (const x of merge([1, 2], [10, 20, 30])) all.push(x);
 * assert.equal(all.length, 5);
 * assert.equal(all.reduce((a, b) => a + b, 0), 63);
 *
 * // Options (a plain object) come after the sources.
 * const stop = new AbortController();
 * const some: number[] = [];
 * for await (const x of merge([1], [2], { signal: stop.signal })) some.push(x);
 * assert.equal(some.length, 2);
 * ```
 */
export function merge<T>(...sources: AnyIterable<T>[]): Stage<T>;
/** Merge with options (a plain object after the sources): `merge(a, b, { signal })`. */
export function merge<T>(...args: [...AnyIterable<T>[], MergeOptions]): Stage<T>;
export function merge<T>(...args: unknown[]): Stage<T> {
  const [sources, signal] = splitArgs("merge sources", args);
  const its = openAll("merge sources", sources) as AsyncIterator<T>[];
  const lengths = sources.map(lengthOf);
  const known = lengths.every((n) => n !== undefined);
  return withLength(
    new Merger(its, signal),
    known ? lengths.reduce<number>((a, n) => a + (n as number), 0) : undefined,
  );
}

class Zipper<T> implements Stage<T> {
  readonly #its: AsyncIterator<unknown>[];
  readonly #link: AbortLink;
  #closed = false;

  constructor(its: AsyncIterator<unknown>[], signal: AbortSignal | undefined) {
    this.#its = its;
    this.#link = new AbortLink("zip sources", signal);
  }

  /** Aborted: close now, return the sources without waiting (a pull may never settle). */
  #abort(): unknown {
    this.#closed = true;
    this.#link.detach();
    closeAll(this.#its).catch(() => {});
    return this.#link.error();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.#closed || this.#its.length === 0) {
      this.#closed = true;
      return { done: true, value: undefined };
    }
    if (this.#link.aborted) throw this.#abort();
    const its = this.#its;
    let settled: PromiseSettledResult<IteratorResult<unknown>>[];
    try {
      settled = await this.#link.race(Promise.allSettled(its.map((it) => nextOf(it))));
    } catch (error) {
      if (this.#closed) return { done: true, value: undefined };
      if (this.#link.aborted) throw this.#abort();
      throw error;
    }
    if (this.#closed) return { done: true, value: undefined };
    const open: AsyncIterator<unknown>[] = [];
    let failure: { error: unknown } | null = null;
    let ended = false;
    const tuple = new Array(its.length);
    for (let i = 0; i < its.length; i++) {
      const s = settled[i]!;
      if (s.status === "rejected") {
        failure ??= { error: s.reason };
      } else if (!isResult(s.value)) {
        failure ??= { error: badResult("zip sources", s.value) };
      } else if (s.value.done) {
        ended = true;
      } else {
        open.push(its[i]!);
        tuple[i] = s.value.value;
      }
    }
    if (failure === null && !ended) {
      if (turnDue()) await giveTurn(); // the tuple is taken: a later next() cannot overtake it
      return { done: false, value: tuple as T };
    }
    this.#closed = true;
    this.#link.detach();
    if (failure !== null) {
      try {
        await closeAll(open);
      } catch { /* the source's error is the one reported */ }
      throw failure.error;
    }
    await closeAll(open);
    return { done: true, value: undefined };
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    if (!this.#closed) {
      this.#closed = true;
      this.#link.detach();
      await closeAll(this.#its);
    }
    return { done: true, value: value as T };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/** The item types of a tuple of iterables. */
export type ZipItems<S extends readonly AnyIterable<unknown>[]> = {
  [K in keyof S]: S[K] extends AnyIterable<infer U> ? U : never;
};

/**
 * Combine several sources into tuples, one item from each, pulled concurrently. Stops at the
 * shortest source and returns the others; a source error is thrown after returning the others.
 * When every source has a `length`, the result has the smallest.
 *
 * @param sources sync or async iterables, optionally followed by options (`{ signal }`)
 * @returns an async iterable iterator of tuples
 * @throws {InvalidArgumentError} when a source is not iterable
 *
 * @example
 * ```ts
 * import { zip } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const pairs: [number, string][] = [];
 * for await (const p of zip([1, 2, 3], ["a", "b"])) pairs.push(p);
 * assert.equal(JSON.stringify(pairs), '[[1,"a"],[2,"b"]]');
 * ```
 */
export function zip<S extends readonly AnyIterable<unknown>[]>(
  ...sources: S
): Stage<ZipItems<S>>;
/** Zip with options (a plain object after the sources): `zip(a, b, { signal })`. */
export function zip<S extends readonly AnyIterable<unknown>[]>(
  ...args: [...S, MergeOptions]
): Stage<ZipItems<S>>;
export function zip<S extends readonly AnyIterable<unknown>[]>(
  ...args: unknown[]
): Stage<ZipItems<S>> {
  const [sources, signal] = splitArgs("zip sources", args);
  const its = openAll("zip sources", sources);
  const lengths = sources.map(lengthOf);
  const known = lengths.length > 0 && lengths.every((n) => n !== undefined);
  return withLength(
    new Zipper<ZipItems<S>>(its, signal),
    known ? Math.min(...(lengths as number[])) : undefined,
  );
}
