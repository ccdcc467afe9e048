/**
 * One run of `StatefulLoop.iterate` / `items`: a hand-written async iterator (not an async
 * generator) so that, with a synchronous source and no checkpoint due, `next()` does its work
 * synchronously and returns one already-resolved promise.
 *
 * `next()` takes one of three steps, each a specification of the same behaviour:
 *
 * - the **fast step** (sync source, phase `Items`, loop open, no checkpoint due with the current
 *   item, no abort): completes the item and pulls the next one synchronously;
 * - the **async fast step** (async source, same conditions): completes the item and makes one
 *   `then` on the source's promise;
 * - the **general step** (`#advance`, asynchronous): everything else — skipping the completed
 *   items of a replayed source, checkpoints, abort, the end-of-source pass and the final save.
 *
 * @module
 */

import { abortError } from "../_internal/abort.ts";
import {
  badResult,
  isResult,
  isThenable,
  nextOf,
  type Opened,
  resultOf,
} from "../_internal/iterate.ts";
import { afterTurn, giveTurn, turnDue } from "../_internal/turn.ts";
import type { LoopCursor } from "./cursor.ts";
import { LoopMisuseError } from "./errors.ts";

/**
 * What `iterate` yields: an item of the source (`final: false`), or — once, after the source is
 * exhausted, and only when some buffer site still holds data — the final pass (`final: true`,
 * no item) during which every `buffer()` call flushes what its site holds.
 */
export type LoopStep<T> =
  | {
    /** `false`: a source item. */
    readonly final: false;
    /** The item. */
    readonly item: T;
    /** Its 0-based position in the whole source (resumed runs continue the count). */
    readonly index: number;
  }
  | {
    /** `true`: the end-of-source pass. */
    readonly final: true;
    /** No item in the final pass. */
    readonly item: undefined;
    /** The number of items of the source. */
    readonly index: number;
  };

/**
 * What `iterate` (`Y` = {@linkcode LoopStep}) and `items` (`Y` = the item) return. `return()`
 * (called by `for await` on `break` or when the body throws) stops the loop without completing
 * the current item and stops the source.
 */
export interface LoopIterator<Y> extends AsyncIterableIterator<Y, void, undefined> {
  /** The next step (completes the previous item first). */
  next(): Promise<IteratorResult<Y, void>>;
  /** Stop: the current item is not completed, the source is stopped, the loop cannot go on. */
  return(): Promise<IteratorResult<Y, void>>;
  /** Same as `return()`, then rejects with `error`. */
  throw(error?: unknown): Promise<IteratorResult<Y, void>>;
}

/** The checkpoint triggers of a loop, resolved from its options. */
export interface CheckpointTriggers {
  /** Save after this many completed items, or never. */
  readonly everyItems: number | false;
  /** Save when this many ms passed since the last save, or never. */
  readonly everyMs: number | false;
  /** Save after an item during which a site flushed. */
  readonly afterFlush: boolean;
  /** Save when the source is exhausted and the final pass is done. */
  readonly atEnd: boolean;
  /** The clock of `everyMs`. */
  readonly clock: () => number;
  /** `true`: `clock` is read at each completion; `false`: an unref'd timer raises a flag. */
  readonly injectedClock: boolean;
}

/** Everything one iteration needs from its loop. */
export interface IterationSetup<T> {
  /** The loop's shared position and flags. */
  readonly cursor: LoopCursor;
  /** When to checkpoint. */
  readonly triggers: CheckpointTriggers;
  /** Write a checkpoint of the loop. */
  readonly save: () => Promise<void>;
  /** The opened source. */
  readonly source: Opened<T>;
  /** `true` for `items()` (yield the items), `false` for `iterate()` (yield steps). */
  readonly plain: boolean;
  /** Drop the first `cursor.position` items of the source. */
  readonly skipCompleted: boolean;
  /** Stop between two items. */
  readonly signal: AbortSignal | undefined;
}

/** The phases of an iteration, in order. */
export enum Phase {
  /** Not started: the completed items of a replayed source are still to be skipped. */
  Init,
  /** Source items flow. */
  Items,
  /** The body runs the end-of-source pass. */
  Final,
  /** The source and the final pass are done: the final checkpoint is next. */
  End,
  /** Finished or stopped. */
  Done,
}

const ACTION = "iterate a StatefulLoop";
/** `#pullSync`'s answer when the item is a thenable (held in `#thenable`) to be awaited. */
const THENABLE = Symbol("thenable");
const DONE: IteratorReturnResult<void> = Object.freeze({ done: true, value: undefined });

type Step<T> = IteratorResult<T | LoopStep<T>, void>;

/** The iterator behind `StatefulLoop.iterate` and `StatefulLoop.items`. */
export class LoopIteration<T> implements LoopIterator<T | LoopStep<T>> {
  readonly #cursor: LoopCursor;
  readonly #save: () => Promise<void>;
  readonly #it: Iterator<T> | AsyncIterator<T>;
  readonly #sync: boolean;
  readonly #plain: boolean;
  readonly #skipCompleted: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #everyItems: number | false;
  readonly #everyMs: number | false;
  readonly #afterFlush: boolean;
  readonly #atEnd: boolean;
  readonly #clock: () => number;
  readonly #injectedClock: boolean;
  #phase = Phase.Init;
  /** The body holds an item (or the final pass) it has not finished. */
  #inItem = false;
  #sourceDone = false;
  /** A result pulled by a fast step that the general step must handle. */
  #peeked: IteratorResult<T> | typeof THENABLE | undefined;
  /** The thenable item behind a `THENABLE` answer. */
  #thenable: unknown;
  #sinceSave = 0;
  #lastSave = 0;
  #timeDue = false;
  #inflight: Promise<Step<T>> | undefined;
  /**
   * Whether this run completed an item or ran the final pass: a run that did neither (an empty
   * source, or nothing new after the checkpoint's position) persists nothing, so initial values
   * changed in code since are not overridden by a checkpoint of nothing.
   */
  #worked = false;

  // Callbacks handed to promises, made once per iteration (not per item).
  readonly #next = (): Promise<Step<T>> => this.next();
  readonly #raiseTimeDue = (): void => {
    this.#timeDue = true;
  };
  readonly #settle = (r: Step<T>): Step<T> => {
    this.#inflight = undefined;
    return r;
  };
  readonly #fail = async (error: unknown): Promise<Step<T>> => {
    this.#inflight = undefined;
    await this.#stop();
    throw error;
  };
  // A result that is not an object fails the run (as `for await` would, with a typed error).
  readonly #onChecked = (r: IteratorResult<T>): Step<T> | Promise<Step<T>> =>
    isResult(r) ? this.#onPulled(r) : this.#fail(badResult(ACTION, r));
  readonly #onPulledNow = (r: IteratorResult<T>): Step<T> | Promise<Step<T>> => {
    if (r.done) {
      this.#peeked = r;
      return this.#advance().then(this.#settle, this.#fail);
    }
    try {
      return this.#settle(this.#begin(r.value));
    } catch (error) {
      return this.#fail(error);
    }
  };

  /** @param setup the loop's cursor, triggers and save, the opened source and the options */
  constructor(setup: IterationSetup<T>) {
    this.#cursor = setup.cursor;
    this.#save = setup.save;
    this.#it = setup.source.async ?? setup.source.sync;
    this.#sync = setup.source.async === undefined;
    this.#plain = setup.plain;
    this.#skipCompleted = setup.skipCompleted;
    this.#signal = setup.signal;
    const t = setup.triggers;
    this.#everyItems = t.everyItems;
    this.#everyMs = t.everyMs;
    this.#afterFlush = t.afterFlush;
    this.#atEnd = t.atEnd;
    this.#clock = t.clock;
    this.#injectedClock = t.injectedClock;
  }

  /** The next step; completes the item the body was given first. */
  next(): Promise<Step<T>> {
    if (this.#inflight) return this.#inflight.then(this.#next, this.#next); // not yet settled
    if (this.#phase === Phase.Done) return Promise.resolve(DONE);
    try {
      if (this.#sync) {
        const r = this.#fastStep();
        // Timers, signals and the time trigger get a turn (a sync source never yields): the
        // item is taken, its hand-over waits for the turn.
        if (r !== undefined) return turnDue() ? afterTurn(r) : Promise.resolve(r);
      } else if (
        this.#phase === Phase.Items && !this.#cursor.closed && !this.#signal?.aborted &&
        this.#completeUnlessDue()
      ) {
        // The async fast step: nothing due, one `then` on the source's promise.
        return (this.#inflight = nextOf(this.#it as AsyncIterator<T>).then(
          this.#onChecked,
          this.#fail,
        ));
      }
    } catch (error) {
      return this.#fail(error);
    }
    return (this.#inflight = this.#advance().then(this.#settle, this.#fail));
  }

  /** Stop: the current item is not completed, the source is stopped. */
  async return(): Promise<Step<T>> {
    if (this.#inflight) await this.#inflight.catch(() => {});
    if (this.#phase !== Phase.Done) await this.#stop();
    return DONE;
  }

  /** Same as `return()`, then rejects with `error`. */
  async throw(error?: unknown): Promise<Step<T>> {
    await this.return();
    throw error;
  }

  /** This iterator. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  // ---- the fast step ----

  /** The synchronous step; `undefined` when the general step is needed. */
  #fastStep(): Step<T> | undefined {
    if (this.#phase !== Phase.Items || this.#cursor.closed) return undefined;
    if (!this.#completeUnlessDue()) return undefined;
    if (this.#signal?.aborted) return undefined;
    const r = this.#pullSync();
    if (r === THENABLE || r.done) {
      this.#peeked = r;
      return undefined;
    }
    return this.#begin(r.value);
  }

  /**
   * Complete the body's current item unless a checkpoint falls due with it (then `false`: the
   * general step completes it and saves). `true` when there is nothing to complete.
   */
  #completeUnlessDue(): boolean {
    if (!this.#inItem) return true;
    if (this.#due(1)) return false;
    this.#complete();
    return true;
  }

  /** Next result of a sync source; `THENABLE` (value in `#thenable`) when it must be awaited. */
  #pullSync(): IteratorResult<T> | typeof THENABLE {
    const r = resultOf<T>(ACTION, (this.#it as Iterator<T>).next());
    if (!r.done && isThenable(r.value)) {
      this.#thenable = r.value;
      return THENABLE;
    }
    return r;
  }

  /** An async source's result, checked: handed to the body, or to the general step at its end. */
  #onPulled(r: IteratorResult<T>): Step<T> | Promise<Step<T>> {
    // An in-memory source resolves at once: when a turn is due the item waits for it.
    return !r.done && turnDue() ? afterTurn(r).then(this.#onPulledNow) : this.#onPulledNow(r);
  }

  // ---- item bookkeeping ----

  /** Hand `value` to the body. */
  #begin(value: T): Step<T> {
    const cursor = this.#cursor;
    cursor.assertOpen(ACTION);
    cursor.flushedThisItem = false;
    cursor.inBody = true;
    this.#inItem = true;
    return {
      done: false,
      value: this.#plain ? value : { final: false, item: value, index: cursor.position },
    };
  }

  /** The body finished the item it was given. */
  #complete(): void {
    this.#inItem = false;
    this.#cursor.inBody = false;
    this.#cursor.position++;
    this.#sinceSave++;
    this.#worked = true;
  }

  /** Whether a checkpoint is due once `pending` more items (0 or 1) are completed. */
  #due(pending: number): boolean {
    const cursor = this.#cursor;
    const everyItems = this.#everyItems;
    const everyMs = this.#everyMs;
    return cursor.requested || (this.#afterFlush && cursor.flushedThisItem) ||
      (everyItems !== false && this.#sinceSave + pending >= everyItems) ||
      (everyMs !== false &&
        (this.#injectedClock ? this.#clock() - this.#lastSave >= everyMs : this.#timeDue));
  }

  /**
   * Restart the time trigger. An unref'd timer raises a flag (reading a clock per item costs more
   * than the loop itself); with an injected clock, the clock is read at each completion instead.
   */
  #arm(): void {
    this.#cursor.clearTimer();
    if (this.#everyMs === false) return;
    if (this.#injectedClock) {
      this.#lastSave = this.#clock();
      return;
    }
    this.#timeDue = false;
    const id = setTimeout(this.#raiseTimeDue, this.#everyMs);
    Deno.unrefTimer(id as unknown as number);
    this.#cursor.timer = id;
  }

  async #checkpoint(): Promise<void> {
    await this.#save();
    this.#sinceSave = 0;
    this.#arm();
  }

  // ---- the general step ----

  /** The general (asynchronous) step: runs the phases in order until one yields a step. */
  async #advance(): Promise<Step<T>> {
    if (this.#phase === Phase.Init) {
      if (this.#skipCompleted) await this.#skipCompletedItems();
      this.#arm();
      this.#phase = Phase.Items;
    }
    if (this.#phase === Phase.Items) {
      const step = await this.#advanceItems();
      if (step !== undefined) return step;
    }
    if (this.#phase === Phase.Final) this.#endFinalPass();
    if (this.#phase === Phase.End) {
      this.#cursor.clearTimer();
      if (this.#atEnd && this.#worked) await this.#save();
      this.#phase = Phase.Done;
    }
    return DONE;
  }

  /** Pull and drop the items a replayed source repeats from the checkpoint. */
  async #skipCompletedItems(): Promise<void> {
    const position = this.#cursor.position;
    for (let i = 0; i < position; i++) {
      const r = await this.#pullAsync();
      if (r.done) {
        this.#sourceDone = true;
        throw new LoopMisuseError(
          ACTION,
          `the source ended after ${i} items but the checkpoint has ${position} ` +
            "completed; pass the same replayable source, or the remaining items with " +
            "{ skipCompleted: false }",
          { received: i },
        );
      }
      if (turnDue()) await giveTurn();
    }
  }

  /**
   * Complete the current item (and checkpoint when due), stop on abort, pull the next item.
   * At the end of the source: the final-pass step when a site holds frames, else `undefined`
   * (phase `End`).
   */
  async #advanceItems(): Promise<Step<T> | undefined> {
    const cursor = this.#cursor;
    if (this.#inItem) {
      cursor.assertOpen(ACTION);
      this.#complete();
      if (this.#due(0)) await this.#checkpoint();
    }
    const signal = this.#signal;
    if (signal?.aborted) {
      if (this.#sinceSave > 0) await this.#checkpoint();
      throw abortError(ACTION, signal);
    }
    const r = await this.#pullAsync();
    if (!r.done) return this.#begin(r.value);
    this.#sourceDone = true;
    if (cursor.holdsFrames()) {
      this.#phase = Phase.Final;
      this.#worked = true;
      cursor.assertOpen(ACTION);
      cursor.final = true;
      cursor.inBody = true;
      this.#inItem = true;
      return { done: false, value: { final: true, item: undefined, index: cursor.position } };
    }
    this.#phase = Phase.End;
    return undefined;
  }

  /** The body finished the final pass: every site must be empty now. */
  #endFinalPass(): void {
    const cursor = this.#cursor;
    this.#inItem = false;
    cursor.inBody = false;
    cursor.final = false;
    cursor.assertOpen(ACTION);
    const left = [...cursor.sites.values()].filter((s) => s.holds);
    if (left.length) {
      throw new LoopMisuseError(
        "flush at the end of the source",
        `site${left.length > 1 ? "s" : ""} ${left.map((s) => `"${s.name}"`).join(", ")} ` +
          "still hold data after the final pass: call loop.buffer(site, undefined) for every " +
          "site when step.final is true",
        { received: left.map((s) => s.name) },
      );
    }
    this.#phase = Phase.End;
  }

  /** The next result of the source, sync or async, its thenable items awaited. */
  async #pullAsync(): Promise<IteratorResult<T>> {
    const r = this.#peeked ??
      (this.#sync
        ? this.#pullSync()
        : resultOf<T>(ACTION, await (this.#it as AsyncIterator<T>).next()));
    this.#peeked = undefined;
    if (r !== THENABLE) return r;
    const pending = this.#thenable as T;
    this.#thenable = undefined;
    return { done: false, value: await pending };
  }

  // ---- stopping ----

  async #stop(): Promise<void> {
    const cursor = this.#cursor;
    cursor.clearTimer();
    this.#phase = Phase.Done;
    this.#inItem = false;
    cursor.inBody = false;
    cursor.final = false;
    cursor.stopped = true;
    await this.#stopSource();
  }

  async #stopSource(): Promise<void> {
    if (this.#sourceDone) return;
    this.#sourceDone = true;
    try {
      await this.#it.return?.();
    } catch {
      // the source failed while being stopped: the error that stopped the loop wins
    }
  }
}
