/**
 * `map` and `filter` with optional concurrency, ordered (streaming reorder) or unordered.
 *
 * The concurrent implementation keeps results in a ring of slots indexed by item position, with
 * one pre-built pair of settle callbacks per slot, so an item costs the user function's promise
 * and one `then`, and no per-item closure or array shift.
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { assertInteger, InvalidArgumentError } from "../errors.ts";
import { optionalBoolean } from "../_internal/options.ts";
import { abortError, checkSignal } from "../_internal/abort.ts";
import {
  badResult,
  closeIterator,
  closeQuietly,
  isResult,
  isThenable,
  nextOf,
  openSource,
  type Waiter,
  waiter,
} from "../_internal/iterate.ts";
import { checkOptions } from "../_internal/options.ts";
import { Ring } from "../_internal/ring.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { afterTurn, giveTurn, turnDue } from "../_internal/turn.ts";

/**
 * The function of {@linkcode map}: gets the item, its 0-based position in the source and a
 * signal that is aborted when the stage stops early (consumer `break`, an error, an abort).
 */
export type MapFn<T, R> = (value: T, index: number, signal: AbortSignal) => R | PromiseLike<R>;

/** Options of {@linkcode map} and {@linkcode filter}. */
export interface MapOptions {
  /** How many calls may run at once (integer >= 1, default 1). */
  concurrency?: number;
  /** Deliver results in source order (default `true`) or as they complete (`false`). */
  ordered?: boolean;
  /** Aborting it stops the stage: `AbortedError` at the consumer, the source is returned. */
  signal?: AbortSignal;
}

const ACTION = "map a source";

// Slot states of the ordered ring.
const FREE = 0;
const PENDING = 1;
const OK = 2;
const ERR = 3;

/** Concurrency 1, no signal: one item at a time, the least machinery (no async function). */
class SerialMap<T, R> implements Stage<R> {
  readonly #syncIt: Iterator<T> | undefined;
  readonly #asyncIt: AsyncIterator<T> | undefined;
  readonly #fn: MapFn<T, R>;
  readonly #ctl = new AbortController();
  readonly #action: string;
  #index = 0;
  #closed = false;

  constructor(action: string, source: AnyIterable<T>, fn: MapFn<T, R>) {
    const opened = openSource<T>(action, source);
    this.#action = action;
    this.#syncIt = opened.sync;
    this.#asyncIt = opened.async;
    this.#fn = fn;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    const syncIt = this.#syncIt;
    if (syncIt === undefined) {
      return nextOf(this.#asyncIt!).then(this.#onPulled, this.#onSourceError);
    }
    let r: IteratorResult<T>;
    try {
      r = syncIt.next();
    } catch (error) {
      this.#closed = true;
      return Promise.reject(error);
    }
    if (!isResult(r)) {
      this.#closed = true;
      return Promise.reject(badResult(this.#action, r));
    }
    if (r.done) {
      this.#closed = true;
      return Promise.resolve({ done: true, value: undefined });
    }
    if (isThenable(r.value)) {
      return Promise.resolve(r.value as PromiseLike<T>).then(this.#apply, this.#onValueError);
    }
    return this.#apply(r.value);
  }

  readonly #onPulled = (r: IteratorResult<T>): Promise<IteratorResult<R>> => {
    if (!isResult(r)) return this.#onSourceError(badResult(this.#action, r));
    if (r.done) {
      this.#closed = true;
      return Promise.resolve({ done: true, value: undefined });
    }
    return this.#apply(r.value);
  };

  readonly #apply = (value: T): Promise<IteratorResult<R>> => {
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    let v: R | PromiseLike<R>;
    try {
      v = this.#fn(value, this.#index++, this.#ctl.signal);
    } catch (error) {
      return this.#fail(error);
    }
    if (isThenable(v)) return Promise.resolve(v).then(this.#wrap, this.#fail);
    // A turn is given by delaying this result: the item was pulled in call order, so a later
    // next() cannot overtake it.
    return turnDue()
      ? afterTurn({ done: false, value: v })
      : Promise.resolve({ done: false, value: v });
  };

  readonly #wrap = (value: R): IteratorResult<R> | Promise<IteratorResult<R>> =>
    turnDue() ? afterTurn({ done: false, value }) : { done: false, value };

  readonly #fail = async (error: unknown): Promise<IteratorResult<R>> => {
    this.#closed = true;
    this.#ctl.abort();
    await closeQuietly((this.#syncIt ?? this.#asyncIt)!);
    throw error;
  };

  /** A sync source's promise value rejected: close the iterator (as `for await` does), rethrow. */
  readonly #onValueError = async (error: unknown): Promise<never> => {
    this.#closed = true;
    await closeQuietly(this.#syncIt!);
    throw error;
  };

  readonly #onSourceError = (error: unknown): never => {
    this.#closed = true;
    throw error;
  };

  async return(value?: unknown): Promise<IteratorResult<R>> {
    if (!this.#closed) {
      this.#closed = true;
      this.#ctl.abort();
      await closeIterator((this.#syncIt ?? this.#asyncIt)!);
    }
    return { done: true, value: value as R };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/** Concurrent map, ordered or not. */
class ConcurrentMap<T, R> implements Stage<R> {
  readonly #fn: MapFn<T, R>;
  readonly #conc: number;
  readonly #ordered: boolean;
  readonly #window: number;
  readonly #mask: number;
  readonly #syncIt: Iterator<T> | undefined;
  readonly #asyncIt: AsyncIterator<T> | undefined;
  readonly #ctl = new AbortController();
  readonly #signal: AbortSignal | undefined;
  readonly #action: string;
  #onAbort: (() => void) | null = null;

  // Ordered: results by slot.
  readonly #vals: unknown[];
  readonly #st: Uint8Array;
  readonly #okFns: ((v: R) => void)[] = [];
  readonly #errFns: ((e: unknown) => void)[] = [];
  // Unordered: completed results in completion order.
  readonly #queue: Ring<R>;

  readonly #waiters = new Ring<Waiter<R>>(2);
  #head = 0; // ordered: position of the next result to deliver
  #launched = 0; // items pulled and started
  #inflight = 0;
  #started = false;
  #pulling = false;
  #filling = false;
  #srcDone = false;
  #srcFailed = false;
  #srcError: unknown = undefined;
  #taskFailed = false; // unordered: a call failed; its error comes after queued results
  #taskError: unknown = undefined;
  #halted = false; // no more launches (an error is on its way, or stopping)
  #stopping = false; // the consumer is gone or the stage failed: results are dropped
  #closed = false; // next() resolves done (after delivering #final once)
  #final: { error: unknown } | null = null;
  #idle: (() => void)[] = [];
  #turnWait = false; // pulling is paused for a turn of the event loop

  constructor(
    action: string,
    source: AnyIterable<T>,
    fn: MapFn<T, R>,
    concurrency: number,
    ordered: boolean,
    signal: AbortSignal | undefined,
  ) {
    const opened = openSource<T>(action, source);
    this.#action = action;
    this.#syncIt = opened.sync;
    this.#asyncIt = opened.async;
    this.#fn = fn;
    this.#conc = concurrency;
    this.#ordered = ordered;
    let w = 4;
    while (w < 2 * concurrency) w *= 2;
    this.#window = w;
    this.#mask = w - 1;
    this.#vals = ordered ? new Array(w) : [];
    this.#st = new Uint8Array(ordered ? w : 0);
    if (ordered) {
      for (let j = 0; j < w; j++) {
        this.#okFns.push((v: R) => this.#settle(j, v, OK));
        this.#errFns.push((e: unknown) => this.#settle(j, e, ERR));
      }
    }
    this.#queue = new Ring(ordered ? 4 : w);
    this.#signal = signal;
    if (signal) {
      this.#onAbort = () => this.#abort();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<R>> {
    if (this.#closed) return this.#closedResult();
    if (!this.#started) {
      if (this.#signal?.aborted) {
        this.#abort();
        return this.#closedResult();
      }
      this.#started = true;
      this.#fill();
    }
    if (this.#ordered) {
      const j = this.#head & this.#mask;
      const s = this.#st[j];
      if (s === OK) {
        const value = this.#vals[j] as R;
        this.#vals[j] = undefined;
        this.#st[j] = FREE;
        this.#head++;
        this.#fill();
        return Promise.resolve({ done: false, value });
      }
      if (s === ERR) return this.#failWith(this.#vals[j]);
      if (s === FREE && this.#head === this.#launched) {
        if (this.#srcFailed) return this.#failWith(this.#srcError);
        if (this.#srcDone) return this.#finish();
      }
    } else {
      if (this.#queue.length > 0) {
        const value = this.#queue.shift();
        this.#fill();
        return Promise.resolve({ done: false, value });
      }
      if (this.#inflight === 0 && !this.#pulling) {
        if (this.#taskFailed) return this.#failWith(this.#taskError);
        if (this.#srcFailed) return this.#failWith(this.#srcError);
        if (this.#srcDone) return this.#finish();
      } else if (this.#taskFailed && this.#inflight === 0) {
        return this.#failWith(this.#taskError);
      }
    }
    const [p, w] = waiter<R>();
    this.#waiters.push(w);
    return p;
  }

  async return(value?: unknown): Promise<IteratorResult<R>> {
    if (!this.#stopping) {
      const sourceOpen = !this.#srcDone && !this.#srcFailed;
      this.#closed = true;
      this.#final = null;
      this.#stop();
      while (this.#waiters.length > 0) {
        this.#waiters.shift().resolve({ done: true, value: undefined });
      }
      try {
        if (sourceOpen) await closeIterator(this.#it());
      } finally {
        await this.#whenIdle();
      }
    }
    return { done: true, value: value as R };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  #it(): AsyncIterator<T> | Iterator<T> {
    return (this.#syncIt ?? this.#asyncIt)!;
  }

  #closedResult(): Promise<IteratorResult<R>> {
    const final = this.#final;
    if (final !== null) {
      this.#final = null;
      return Promise.reject(final.error);
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  #finish(): Promise<IteratorResult<R>> {
    this.#closed = true;
    this.#detach();
    return Promise.resolve({ done: true, value: undefined });
  }

  /**
   * Stop everything, wait for calls in flight, then reject with `error` (once). After an abort
   * the source is returned without waiting for it (its `next()` may never settle).
   */
  async #failWith(error: unknown, waitForSource = true): Promise<IteratorResult<R>> {
    const sourceOpen = !this.#srcDone && !this.#srcFailed;
    this.#closed = true;
    this.#stop();
    if (sourceOpen && waitForSource) await closeQuietly(this.#it());
    else if (sourceOpen) void closeQuietly(this.#it());
    await this.#whenIdle();
    throw error;
  }

  #stop(): void {
    this.#halted = true;
    this.#stopping = true;
    this.#detach();
    this.#ctl.abort();
    if (this.#ordered) {
      this.#vals.fill(undefined);
      this.#st.fill(FREE);
    } else {
      this.#queue.clear();
    }
  }

  #whenIdle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #abort(): void {
    if (this.#stopping) return;
    const error = abortError(ACTION, this.#signal!);
    if (this.#waiters.length > 0) {
      const w = this.#waiters.shift();
      this.#failWith(error, false).then(w.resolve, w.reject);
      while (this.#waiters.length > 0) {
        this.#waiters.shift().resolve({ done: true, value: undefined });
      }
    } else {
      const sourceOpen = !this.#srcDone && !this.#srcFailed;
      this.#closed = true;
      this.#final = { error };
      this.#stop();
      if (sourceOpen) closeQuietly(this.#it());
    }
  }

  #detach(): void {
    if (this.#onAbort !== null) {
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#onAbort = null;
    }
  }

  /** Launch calls while there is room. */
  #fill(): void {
    if (this.#halted || this.#srcDone || this.#srcFailed || this.#turnWait) return;
    const conc = this.#conc;
    const window = this.#window;
    const syncIt = this.#syncIt;
    if (syncIt !== undefined) {
      if (this.#filling) return; // a sync result settled inside the loop below
      this.#filling = true;
      try {
        this.#fillSync(syncIt, conc, window);
      } finally {
        this.#filling = false;
      }
      return;
    }
    if (!this.#pulling && this.#inflight < conc && this.#room() < window) {
      this.#pulling = true;
      nextOf(this.#asyncIt!).then(this.#onPull, this.#onPullError);
    }
  }

  #fillSync(syncIt: Iterator<T>, conc: number, window: number): void {
    while (this.#inflight < conc && this.#room() < window) {
      let r: IteratorResult<T>;
      try {
        r = syncIt.next();
      } catch (error) {
        this.#sourceFailed(error);
        return;
      }
      if (!isResult(r)) {
        this.#sourceFailed(badResult(this.#action, r));
        return;
      }
      if (r.done) {
        this.#srcDone = true;
        this.#checkEnd();
        return;
      }
      const v = r.value;
      if (isThenable(v)) this.#launchLater(v as PromiseLike<T>);
      else this.#launch(v);
      if (this.#halted || this.#pauseForTurn()) return;
    }
  }

  /**
   * Called after each item pulled (every item goes through a pull, so one check per pull covers
   * every path: results ready at `next()`, or handed to a waiting consumer): when a turn is due,
   * pulling pauses until the event loop has turned (the consumer drains what is ready, then
   * waits). Checked after a pull, so a resumed fill always pulls at least one item.
   */
  #pauseForTurn(): boolean {
    if (!turnDue()) return false;
    this.#turnWait = true;
    giveTurn().then(this.#resumeAfterTurn);
    return true;
  }

  readonly #resumeAfterTurn = (): void => {
    this.#turnWait = false;
    this.#fill();
  };

  /** Items held (ordered: undelivered positions; unordered: running + queued). */
  #room(): number {
    return this.#ordered ? this.#launched - this.#head : this.#inflight + this.#queue.length;
  }

  readonly #onPull = (r: IteratorResult<T>): void => {
    this.#pulling = false;
    if (this.#halted) return;
    if (!isResult(r)) {
      this.#sourceFailed(badResult(this.#action, r));
      return;
    }
    if (r.done) {
      this.#srcDone = true;
      this.#checkEnd();
      return;
    }
    this.#launch(r.value);
    if (!this.#pauseForTurn()) this.#fill();
  };

  readonly #onPullError = (error: unknown): void => {
    this.#pulling = false;
    if (this.#stopping) return;
    this.#sourceFailed(error);
  };

  #sourceFailed(error: unknown): void {
    this.#srcFailed = true;
    this.#srcError = error;
    this.#checkEnd();
  }

  #launch(value: T): void {
    const i = this.#launched++;
    this.#inflight++;
    let p: R | PromiseLike<R>;
    try {
      p = this.#fn(value, i, this.#ctl.signal);
    } catch (error) {
      if (this.#ordered) this.#settle(i & this.#mask, error, ERR);
      else this.#settleErr(error);
      return;
    }
    if (isThenable(p)) {
      if (this.#ordered) {
        const j = i & this.#mask;
        this.#st[j] = PENDING;
        p.then(this.#okFns[j], this.#errFns[j]);
      } else {
        p.then(this.#settleOk, this.#settleErr);
      }
    } else if (this.#ordered) {
      this.#settle(i & this.#mask, p, OK);
    } else {
      this.#settleOk(p);
    }
  }

  /** A sync source yielded a promise: await it (as `for await` does), then launch. */
  #launchLater(value: PromiseLike<T>): void {
    const i = this.#launched++;
    this.#inflight++;
    const fn = this.#fn;
    const signal = this.#ctl.signal;
    const p = Promise.resolve(value).then((v) => fn(v, i, signal));
    if (this.#ordered) {
      const j = i & this.#mask;
      this.#st[j] = PENDING;
      p.then(this.#okFns[j], this.#errFns[j]);
    } else {
      p.then(this.#settleOk, this.#settleErr);
    }
  }

  /** Ordered: slot `j` settled. */
  #settle(j: number, v: unknown, state: typeof OK | typeof ERR): void {
    this.#inflight--;
    if (this.#stopping) {
      this.#idleCheck();
      return;
    }
    if (state === ERR) this.#halted = true;
    this.#vals[j] = v;
    this.#st[j] = state;
    if (this.#waiters.length > 0 && j === (this.#head & this.#mask)) this.#deliver();
    this.#fill();
  }

  readonly #settleOk = (v: R): void => {
    this.#inflight--;
    if (this.#stopping) {
      this.#idleCheck();
      return;
    }
    if (this.#waiters.length > 0) this.#waiters.shift().resolve({ done: false, value: v });
    else this.#queue.push(v);
    this.#fill();
    this.#checkEnd();
  };

  readonly #settleErr = (error: unknown): void => {
    this.#inflight--;
    if (this.#stopping) {
      this.#idleCheck();
      return;
    }
    if (!this.#taskFailed) {
      this.#taskFailed = true;
      this.#taskError = error;
      this.#halted = true;
    }
    this.#checkEnd();
  };

  /** Ordered: hand ready head results to waiting consumers. */
  #deliver(): void {
    while (this.#waiters.length > 0) {
      const j = this.#head & this.#mask;
      const s = this.#st[j];
      if (s === OK) {
        const value = this.#vals[j] as R;
        this.#vals[j] = undefined;
        this.#st[j] = FREE;
        this.#head++;
        this.#waiters.shift().resolve({ done: false, value });
      } else if (s === ERR) {
        const w = this.#waiters.shift();
        this.#failWith(this.#vals[j]).then(w.resolve, w.reject);
        return;
      } else {
        this.#checkEnd();
        return;
      }
    }
  }

  /** Resolve a waiting consumer when the stream has ended or failed. */
  #checkEnd(): void {
    if (this.#waiters.length === 0 || this.#closed) return;
    if (this.#ordered) {
      if (this.#st[this.#head & this.#mask] !== FREE || this.#head !== this.#launched) return;
    } else {
      if (this.#queue.length > 0) return;
      if (this.#taskFailed) {
        if (this.#inflight > 0) return;
      } else if (this.#inflight > 0 || this.#pulling) return;
    }
    let error: unknown;
    let failed = false;
    if (!this.#ordered && this.#taskFailed) {
      failed = true;
      error = this.#taskError;
    } else if (this.#srcFailed) {
      failed = true;
      error = this.#srcError;
    } else if (!this.#srcDone) return;
    const w = this.#waiters.shift();
    if (failed) {
      this.#failWith(error).then(w.resolve, w.reject);
    } else {
      this.#finish().then(w.resolve);
    }
    while (this.#waiters.length > 0) {
      this.#waiters.shift().resolve({ done: true, value: undefined });
    }
  }

  #idleCheck(): void {
    if (this.#inflight === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }
}

function checkMap(action: string, fn: unknown, options: unknown) {
  if (typeof fn !== "function") {
    throw new InvalidArgumentError(action, "the function must be a function", { received: fn });
  }
  const o = checkOptions<MapOptions>(action, options, ["concurrency", "ordered", "signal"]);
  const concurrency = o.concurrency === undefined
    ? 1
    : assertInteger(action, "concurrency", o.concurrency, 1);
  const ordered = optionalBoolean(action, "ordered", o.ordered) ?? true;
  const signal = checkSignal(action, o.signal);
  return { concurrency, ordered, signal };
}

/**
 * Apply `fn` to every item of `source`, with up to `concurrency` calls running at once.
 *
 * Ordered (the default) delivers results in source order with a streaming reorder buffer of
 * at most `2 × concurrency` results (no batch barrier: a slow item only holds back the ones
 * after it, within that window); unordered delivers them as they complete. When a call throws,
 * the results before it (ordered: in position; unordered: completed before it) are delivered,
 * then the error is thrown, after the calls already running have settled. When the consumer
 * stops early, the signal given to `fn` is aborted, the source is returned and `return()`
 * waits for the calls in flight to settle: nothing keeps running. A sized source keeps its
 * `length`.
 *
 * @param source any sync or async iterable
 * @param fn `(value, index, signal) => result | Promise<result>`
 * @param options `concurrency` (default 1), `ordered` (default true), `signal`
 * @returns an async iterable iterator of results
 * @throws {InvalidArgumentError} for a bad function, concurrency or signal
 *
 * @example
 * ```ts
 * import { map } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const out: number[] = [];
 * const squares = map([1, 2, 3, 4], async (x) => x * x, { concurrency: 2 });
 * assert.equal(squares.length, 4);
 * for await (const y of squares) out.push(y);
 * assert.equal(out.join(), "1,4,9,16");
 * ```
 */
export function map<T, R>(
  source: AnyIterable<T>,
  fn: MapFn<T, R>,
  options?: MapOptions,
): Stage<R> {
  const { concurrency, ordered, signal } = checkMap(ACTION, fn, options);
  const stage = concurrency === 1 && signal === undefined
    ? new SerialMap(ACTION, source, fn)
    : new ConcurrentMap(ACTION, source, fn, concurrency, ordered, signal);
  return withLength(stage, lengthOf(source));
}

const SKIP: unique symbol = Symbol("spool.filter.skip");

/** Drops SKIP markers from a map stage. */
class Filtered<T> implements Stage<T> {
  readonly #inner: Stage<T | typeof SKIP>;
  constructor(inner: Stage<T | typeof SKIP>) {
    this.#inner = inner;
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      const r = await this.#inner.next();
      if (r.done || r.value !== SKIP) return r as IteratorResult<T>;
    }
  }
  async return(value?: unknown): Promise<IteratorResult<T>> {
    await this.#inner.return!();
    return { done: true, value: value as T };
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/**
 * Keep the items of `source` for which `predicate` returns (or resolves to) a truthy value,
 * with the same concurrency, ordering, error and early-stop rules as {@linkcode map}.
 *
 * @param source any sync or async iterable
 * @param predicate `(value, index, signal) => boolean | Promise<boolean>`
 * @param options `concurrency` (default 1), `ordered` (default true), `signal`
 * @returns an async iterable iterator of the kept items
 * @throws {InvalidArgumentError} for a bad predicate, concurrency or signal
 *
 * @example
 * ```ts
 * import { filter } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const even: number[] = [];
 * for await (const x of filter([1, 2, 3, 4], (x) => x % 2 === 0)) even.push(x);
 * assert.equal(even.join(), "2,4");
 * ```
 */
export function filter<T>(
  source: AnyIterable<T>,
  predicate: MapFn<T, unknown>,
  options?: MapOptions,
): Stage<T> {
  const action = "filter a source";
  const { concurrency, ordered, signal } = checkMap(action, predicate, options);
  const fn: MapFn<T, T | typeof SKIP> = (value, index, s) => {
    const keep = predicate(value, index, s);
    if (isThenable(keep)) return Promise.resolve(keep).then((k) => k ? value : SKIP);
    return keep ? value : SKIP;
  };
  const stage = concurrency === 1 && signal === undefined
    ? new SerialMap(action, source, fn)
    : new ConcurrentMap(action, source, fn, concurrency, ordered, signal);
  return new Filtered(stage);
}
