/**
 * The general `map`: up to `concurrency` calls at once, results delivered in source order
 * (ordered) or as they complete (unordered); also the implementation whenever a signal is given.
 *
 * Ordered results wait in the ordered window (`_internal/ordered_window.ts`, the one the pool's
 * ordered results use), stored at their item's position as they settle and released from the
 * front. One pair of settle callbacks is built per slot of the window, so an item costs the user
 * function's promise and one `then`, and no per-item closure or array shift. Unordered results
 * wait in a FIFO ring in completion order.
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
import { OrderedWindow } from "../_internal/ordered_window.ts";
import { Ring } from "../_internal/ring.ts";
import type { AnyIterable } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

// Tags of the ordered window's results (0, empty, is the window's).
const OK = 1;
const FAILED = 2;

/** Concurrent map, ordered or not. */
export class ConcurrentMap<T, R> implements Stage<R> {
  readonly #fn: MapFn<T, R>;
  readonly #concurrency: number;
  readonly #ordered: boolean;
  readonly #limit: number; // items held at most (ordered: undelivered; unordered: running + queued)
  readonly #syncIt: Iterator<T> | undefined;
  readonly #asyncIt: AsyncIterator<T> | undefined;
  readonly #controller = new AbortController();
  readonly #signal: AbortSignal | undefined;
  readonly #action: string;
  #onAbort: (() => void) | null = null;

  // Ordered: results by position, and the settle callbacks of each slot of the window.
  readonly #results: OrderedWindow<unknown>;
  readonly #settleOkAt: ((value: R) => void)[] = [];
  readonly #settleFailedAt: ((error: unknown) => void)[] = [];
  // Unordered: completed results in completion order.
  readonly #queue: Ring<R>;

  readonly #waiters = new Ring<Waiter<R>>(2);
  #launched = 0; // items pulled and started
  #inFlight = 0;
  #started = false;
  #pulling = false;
  #filling = false;
  #sourceDone = false;
  #sourceFailed = false;
  #sourceError: unknown = undefined;
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
    this.#concurrency = concurrency;
    this.#ordered = ordered;
    let limit = 4;
    while (limit < 2 * concurrency) limit *= 2;
    this.#limit = limit;
    const results = new OrderedWindow<unknown>(ordered ? limit : 1);
    this.#results = results;
    if (ordered) {
      for (let slot = 0; slot < limit; slot++) {
        this.#settleOkAt.push((value: R) => this.#settle(results.seqAt(slot), value, OK));
        this.#settleFailedAt.push((error) => this.#settle(results.seqAt(slot), error, FAILED));
      }
    }
    this.#queue = new Ring(ordered ? 4 : limit);
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
      const results = this.#results;
      const tag = results.headTag();
      if (tag === OK) {
        const value = results.take() as R;
        this.#fill();
        return Promise.resolve({ done: false, value });
      }
      if (tag === FAILED) return this.#failWith(results.take());
      if (results.next === this.#launched) {
        if (this.#sourceFailed) return this.#failWith(this.#sourceError);
        if (this.#sourceDone) return this.#finish();
      }
    } else {
      if (this.#queue.length > 0) {
        const value = this.#queue.shift();
        this.#fill();
        return Promise.resolve({ done: false, value });
      }
      if (this.#inFlight === 0 && !this.#pulling) {
        if (this.#taskFailed) return this.#failWith(this.#taskError);
        if (this.#sourceFailed) return this.#failWith(this.#sourceError);
        if (this.#sourceDone) return this.#finish();
      } else if (this.#taskFailed && this.#inFlight === 0) {
        return this.#failWith(this.#taskError);
      }
    }
    const [p, w] = waiter<R>();
    this.#waiters.push(w);
    return p;
  }

  async return(value?: unknown): Promise<IteratorResult<R>> {
    if (!this.#stopping) {
      const sourceOpen = !this.#sourceDone && !this.#sourceFailed;
      this.#closed = true;
      this.#final = null;
      this.#stop();
      while (this.#waiters.length > 0) {
        this.#waiters.shift().resolve({ done: true, value: undefined });
      }
      try {
        if (sourceOpen) await closeIterator(this.#iterator());
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

  #iterator(): AsyncIterator<T> | Iterator<T> {
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
    const sourceOpen = !this.#sourceDone && !this.#sourceFailed;
    this.#closed = true;
    this.#stop();
    if (sourceOpen && waitForSource) await closeQuietly(this.#iterator());
    else if (sourceOpen) void closeQuietly(this.#iterator());
    await this.#whenIdle();
    throw error;
  }

  #stop(): void {
    this.#halted = true;
    this.#stopping = true;
    this.#detach();
    this.#controller.abort();
    if (this.#ordered) this.#results.clear();
    else this.#queue.clear();
  }

  #whenIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #abort(): void {
    if (this.#stopping) return;
    const error = abortError(this.#action, this.#signal!);
    if (this.#waiters.length > 0) {
      const w = this.#waiters.shift();
      this.#failWith(error, false).then(w.resolve, w.reject);
      while (this.#waiters.length > 0) {
        this.#waiters.shift().resolve({ done: true, value: undefined });
      }
    } else {
      const sourceOpen = !this.#sourceDone && !this.#sourceFailed;
      this.#closed = true;
      this.#final = { error };
      this.#stop();
      if (sourceOpen) closeQuietly(this.#iterator());
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
    if (this.#halted || this.#sourceDone || this.#sourceFailed || this.#turnWait) return;
    const concurrency = this.#concurrency;
    const limit = this.#limit;
    const syncIt = this.#syncIt;
    if (syncIt !== undefined) {
      if (this.#filling) return; // a sync result settled inside the loop below
      this.#filling = true;
      try {
        this.#fillSync(syncIt, concurrency, limit);
      } finally {
        this.#filling = false;
      }
      return;
    }
    if (!this.#pulling && this.#inFlight < concurrency && this.#room() < limit) {
      this.#pulling = true;
      nextOf(this.#asyncIt!).then(this.#onPull, this.#onPullError);
    }
  }

  #fillSync(syncIt: Iterator<T>, concurrency: number, limit: number): void {
    while (this.#inFlight < concurrency && this.#room() < limit) {
      let r: IteratorResult<T>;
      try {
        r = syncIt.next();
      } catch (error) {
        this.#failSource(error);
        return;
      }
      if (!this.#carriesItem(r)) return;
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

  /**
   * True when the pulled `r` carries an item; otherwise the source has failed (a result that is
   * not an object) or ended, and that is already handled.
   */
  #carriesItem(r: IteratorResult<T>): r is IteratorYieldResult<T> {
    if (!isResult(r)) {
      this.#failSource(badResult(this.#action, r));
      return false;
    }
    if (r.done) {
      this.#sourceDone = true;
      this.#checkEnd();
      return false;
    }
    return true;
  }

  /** Items held (ordered: undelivered positions; unordered: running + queued). */
  #room(): number {
    return this.#ordered
      ? this.#launched - this.#results.next
      : this.#inFlight + this.#queue.length;
  }

  readonly #onPull = (r: IteratorResult<T>): void => {
    this.#pulling = false;
    if (this.#halted) return;
    if (!this.#carriesItem(r)) return;
    this.#launch(r.value);
    if (!this.#pauseForTurn()) this.#fill();
  };

  readonly #onPullError = (error: unknown): void => {
    this.#pulling = false;
    if (this.#stopping) return;
    this.#failSource(error);
  };

  #failSource(error: unknown): void {
    this.#sourceFailed = true;
    this.#sourceError = error;
    this.#checkEnd();
  }

  #launch(value: T): void {
    const i = this.#launched++;
    this.#inFlight++;
    let p: R | PromiseLike<R>;
    try {
      p = this.#fn(value, i, this.#controller.signal);
    } catch (error) {
      if (this.#ordered) this.#settle(i, error, FAILED);
      else this.#settleErr(error);
      return;
    }
    if (isThenable(p)) {
      if (this.#ordered) {
        const slot = this.#results.slotOf(i);
        p.then(this.#settleOkAt[slot], this.#settleFailedAt[slot]);
      } else {
        p.then(this.#settleOk, this.#settleErr);
      }
    } else if (this.#ordered) {
      this.#settle(i, p, OK);
    } else {
      this.#settleOk(p);
    }
  }

  /** A sync source yielded a promise: await it (as `for await` does), then launch. */
  #launchLater(value: PromiseLike<T>): void {
    const i = this.#launched++;
    this.#inFlight++;
    const fn = this.#fn;
    const signal = this.#controller.signal;
    const p = Promise.resolve(value).then((v) => fn(v, i, signal));
    if (this.#ordered) {
      const slot = this.#results.slotOf(i);
      p.then(this.#settleOkAt[slot], this.#settleFailedAt[slot]);
    } else {
      p.then(this.#settleOk, this.#settleErr);
    }
  }

  /** Ordered: the call of item `index` settled with `value` (a result, or an error if FAILED). */
  #settle(index: number, value: unknown, tag: typeof OK | typeof FAILED): void {
    this.#inFlight--;
    if (this.#stopping) {
      this.#idleCheck();
      return;
    }
    if (tag === FAILED) this.#halted = true;
    const results = this.#results;
    results.put(index, value, tag);
    if (this.#waiters.length > 0 && index === results.next) this.#deliver();
    this.#fill();
  }

  readonly #settleOk = (v: R): void => {
    this.#inFlight--;
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
    this.#inFlight--;
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
    const results = this.#results;
    while (this.#waiters.length > 0) {
      const tag = results.headTag();
      if (tag === OK) {
        this.#waiters.shift().resolve({ done: false, value: results.take() as R });
      } else if (tag === FAILED) {
        const w = this.#waiters.shift();
        this.#failWith(results.take()).then(w.resolve, w.reject);
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
      // Every item launched was delivered (then the slot due is empty too).
      if (this.#results.next !== this.#launched) return;
    } else {
      if (this.#queue.length > 0) return;
      if (this.#taskFailed) {
        if (this.#inFlight > 0) return;
      } else if (this.#inFlight > 0 || this.#pulling) return;
    }
    let error: unknown;
    let failed = false;
    if (!this.#ordered && this.#taskFailed) {
      failed = true;
      error = this.#taskError;
    } else if (this.#sourceFailed) {
      failed = true;
      error = this.#sourceError;
    } else if (!this.#sourceDone) return;
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
    if (this.#inFlight === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }
}
