/**
 * The general `map`: up to `concurrency` calls at once, results delivered in source order
 * (ordered) or as they complete (unordered); also the implementation whenever a signal is given.
 *
 * Ordered results wait in a ring of slots indexed by item position, with one pre-built pair of
 * settle callbacks per slot, so an item costs the user function's promise and one `then`, and no
 * per-item closure or array shift. Unordered results wait in a FIFO ring in completion order.
 *
 * @module
 */

import type { MapFn, Stage } from "./types.ts";
import { abortError } from "../_internal/abort.ts";
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
import { Ring } from "../_internal/ring.ts";
import type { AnyIterable } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

/** The action an abort names (`filter` too says "map a source", as it always has). */
const ACTION = "map a source";

// Slot states of the ordered ring.
const FREE = 0;
const PENDING = 1;
const OK = 2;
const ERR = 3;

/** Concurrent map, ordered or not. */
export class ConcurrentMap<T, R> implements Stage<R> {
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
