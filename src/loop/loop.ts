/**
 * `StatefulLoop`: ordered processing of an (async) iterable with bound state, per-site frame
 * buffers flushed by memory limit, atomic checkpoints during the run, and exact resume.
 * See docs/loop.md for the guide and the delivery guarantees.
 *
 * This file is the facade: `open`, the getters, `buffer`, `requestCheckpoint` and `close`. State
 * binding lives in `state_binding.ts`, the iteration in `loop_iteration.ts`, the checkpoint
 * format in `checkpoint_file.ts`, the options in `loop_options.ts`.
 *
 * @module
 */

import { assertNumber } from "../errors.ts";
import { optionalBoolean, optionalSignal, optionsOf } from "../_internal/options.ts";
import { openSource } from "../_internal/iterate.ts";
import { type FrameAdapter, frameAdapter } from "../frame/adapter.ts";
import type { Frame } from "../frame/frame.ts";
import type { StatesKeeper, StateStore } from "../state/mod.ts";
import type { AnyIterable } from "../stream/sized.ts";
import { type Flush, siteFor, type SiteInfo } from "./buffers.ts";
import type { ArraySink } from "../frame/values.ts";
import { COMPONENT, loadLoopFile, loopErrorOf, saveLoopFile } from "./checkpoint_file.ts";
import { type LoopStore, openErrorOf, openLoopStore } from "./loop_store.ts";
import { LoopCursor } from "./cursor.ts";
import { LoopMisuseError } from "./errors.ts";
import {
  type CheckpointTriggers,
  LoopIteration,
  type LoopIterator,
  type LoopStep,
} from "./loop_iteration.ts";
import {
  type BufferOptions,
  checkBufferOptions,
  ITERATE_OPTIONS,
  type IterateOptions,
  NO_OPTIONS,
  type StatefulLoopOptions,
  triggersOf,
} from "./loop_options.ts";
import {
  type AnyFunction,
  type BindFunctionOptions,
  type BindObjectOptions,
  StateBindings,
} from "./state_binding.ts";

const MB = 1024 * 1024;

const OPEN = Symbol("StatefulLoop.open");

/**
 * An ordered loop over an (async) iterable whose state, position and buffered frames are
 * checkpointed atomically in a {@linkcode StateStore} (a directory, or any store such as one on
 * `NatsStorage`) during the run, so a process killed at any moment resumes exactly: bound state
 * is applied exactly once per item, and every buffer flush carries a per-site sequence number for
 * idempotent sinks.
 *
 * Open it with the async {@linkcode StatefulLoop.open} (the store is opened and the latest
 * checkpoint loaded before the loop is returned). Bind state, then iterate once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, StatefulLoop } from "@spool/spool";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using loop = await StatefulLoop.open(dir);
 *   const agg = loop.state("agg", { sum: 0 });
 *   const batches = [new Frame({ value: new Float64Array([1]) }), new Frame({ value: new Float64Array([2]) })];
 *   const flushed: number[] = [];
 *   for await (const { item, final } of loop.iterate(batches)) {
 *     if (!final) agg.sum += item.columns.value.reduce((a, b) => a + b, 0);
 *     const out = loop.buffer("main", final ? undefined : { main: item }, { memoryLimitMb: 1 });
 *     if (out) flushed.push(out.frames.main.length, out.seq); // written at the end-of-source pass
 *   }
 *   assert.ok(agg.sum === 3 && flushed.join() === "2,0");
 * }
 * await using again = await StatefulLoop.open(dir); // resumes: state restored, position 2
 * assert.ok(again.state("agg", { sum: 0 }).sum === 3 && again.position === 2);
 * await again.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class StatefulLoop implements AsyncDisposable {
  /** The checkpoint directory, or the `dir` of the store given to `open` (`nats:<bucket>`). */
  readonly path: string;
  /** `true` when a checkpoint was loaded at open (this run resumes). */
  readonly resumed: boolean = false;
  readonly #store: StateStore;
  /** Whether the loop opened its store (then it closes it), else the caller did. */
  readonly #ownStore: boolean;
  /** Retention the loop applies after its checkpoints to a store the caller opened. */
  readonly #prune: StatesKeeper | undefined;
  readonly #limitMb: number;
  readonly #triggers: CheckpointTriggers;
  readonly #adapters = new Map<string, FrameAdapter<unknown>>();
  readonly #cursor: LoopCursor;
  readonly #bindings: StateBindings;
  #started = false;
  #checkpoints = 0;

  /**
   * Use {@linkcode StatefulLoop.open}: the constructor is internal (opening loads a checkpoint,
   * which is asynchronous).
   */
  private constructor(
    token: symbol,
    { path, store, own, prune }: LoopStore,
    options: StatefulLoopOptions,
  ) {
    if (token !== OPEN) {
      throw new LoopMisuseError("create a StatefulLoop", "use await StatefulLoop.open(path)");
    }
    this.path = path;
    this.#store = store;
    this.#ownStore = own;
    this.#prune = prune;
    this.#cursor = new LoopCursor(path);
    this.#bindings = new StateBindings((action, name) => this.#assertBindable(action, name));
    this.#limitMb = options.memoryLimitMb ?? 300;
    this.#triggers = triggersOf(options);
    this.#adapters.set(frameAdapter.name, frameAdapter as FrameAdapter<unknown>);
    for (const a of options.adapters ?? []) this.#adapters.set(a.name, a as FrameAdapter<unknown>);
  }

  /**
   * Open the loop whose checkpoints live in directory `path` (created when missing), or in the
   * {@linkcode StateStore} you opened (e.g. `StateStore.withStorage(await NatsStorage.connect(
   * ...))`: a job killed on one machine resumes on another). A checkpoint found is loaded: states
   * (applied when you bind them), position, buffered frames and flush sequence numbers.
   *
   * A directory is locked until `close()` (a second process gets `StoreLockedError`), pruned to
   * the `keep` newest snapshots, and closed by the loop. A store you pass stays yours: the loop
   * registers its component (`loop`) on it (components you registered ride along in each
   * checkpoint), prunes it only when `keep` is given (else the store's own `keeper` applies),
   * and `close()` unregisters the component without closing the store. It must be writable.
   *
   * @param where the checkpoint directory, or an open, writable store
   * @param options memory limit, checkpoint triggers, retention, adapters
   * @throws {LoopCheckpointError} when the store holds snapshots of something else, of an
   * incompatible version, or a damaged checkpoint record (every bad field named)
   * @throws {InvalidArgumentError} for a bad or unknown option, a read-only store, or a path that
   * is a file or cannot be created
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { StatefulLoop, StateStore } from "@spool/spool";
   *
   * const dir = await Deno.makeTempDir();
   * const store = new StateStore(dir); // or StateStore.withStorage(await NatsStorage.connect(...))
   * for (let run = 1; run <= 2; run++) {
   *   await using loop = await StatefulLoop.open(store, { keep: 1 });
   *   const total = loop.state("total", { sum: 0 });
   *   for await (const n of loop.items([1, 2, 3])) total.sum += n;
   *   assert.ok(total.sum === 6 && loop.resumed === (run === 2));
   * } // each loop is closed, the store stays open
   * assert.ok((await store.list()).length === 1);
   * await store.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static async open(
    where: string | StateStore,
    options: StatefulLoopOptions = {},
  ): Promise<StatefulLoop> {
    const action = "open a StatefulLoop";
    const opened = await openLoopStore(action, where, options);
    const loop = new StatefulLoop(OPEN, opened, options);
    try {
      await loop.#attach(options.fallback ?? false);
    } catch (error) {
      await loop.#release();
      throw openErrorOf(action, error, opened.path);
    }
    return loop;
  }

  /** Register the loop's component on the store and load the latest checkpoint. */
  async #attach(fallback: boolean): Promise<void> {
    const cursor = this.#cursor;
    this.#store.register(COMPONENT, {
      saveState: (_dir, ctx) => {
        const encode = (arrays: ArraySink) => this.#bindings.encode(arrays);
        return saveLoopFile(ctx, cursor.position, encode, cursor.sites.values());
      },
      loadState: (_dir, ctx) => {
        const loaded = loadLoopFile(ctx, this.path, this.#adapters);
        cursor.sites = loaded.sites;
        this.#bindings.restore(loaded.restored);
        cursor.position = loaded.position;
      },
    });
    const loaded = await this.#store.load("latest", { fallback });
    (this as { resumed: boolean }).resumed = loaded !== undefined;
  }

  /** Close a store the loop opened; leave the caller's open, without the loop's component. */
  async #release(): Promise<void> {
    if (this.#ownStore) await this.#store.close();
    else this.#store.unregister(COMPONENT);
  }

  /** Number of items completed (the body finished them), counting those of earlier runs. */
  get position(): number {
    return this.#cursor.position;
  }

  /** `true` while the body runs the end-of-source pass. */
  get isFinal(): boolean {
    return this.#cursor.final;
  }

  /** Checkpoints written by this instance. */
  get checkpoints(): number {
    return this.#checkpoints;
  }

  /** Counters of every buffer site, in site order (first use, or checkpoint order). */
  get sites(): SiteInfo[] {
    return [...this.#cursor.sites.values()].map((s) => s.info());
  }

  /** Names of the states stored in the loaded checkpoint and not bound (yet) in this run. */
  get unboundStates(): string[] {
    return this.#bindings.unbound();
  }

  // ---- binding (see state_binding.ts) ----

  /** The loop's part of every binding check: open, and iteration not started. */
  #assertBindable(action: string, name: unknown): void {
    this.#cursor.assertOpen(action);
    if (this.#started) {
      throw new LoopMisuseError(
        action,
        "iteration already started; bind every state before iterate()",
        { received: name },
      );
    }
  }

  /**
   * A mutable state object saved in every checkpoint. On a resumed run the saved values are
   * copied INTO `initial` (properties added to the code since keep their initial value) and
   * `initial` itself is returned, so your variable is the live state. Mutate it in place; its
   * values may be JSON values, typed arrays, bigint, `Date`, `Map`, `Set`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { StatefulLoop } from "@spool/spool";
   *
   * const dir = await Deno.makeTempDir();
   * await using loop = await StatefulLoop.open(dir);
   * const counts = loop.state("counts", { seen: 0, hist: new Float64Array(4) });
   * for await (const { item } of loop.iterate([0, 1, 1, 3])) {
   *   counts.seen++;
   *   counts.hist[item as number]!++;
   * }
   * assert.ok(counts.seen === 4 && counts.hist[1] === 2);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  state<S extends object>(name: string, initial: S): S {
    return this.#bindings.state(name, initial);
  }

  /**
   * Bind state objects to parameters of `fn` (the oups style). Each key of `options.state` must
   * be a parameter name of `fn` (read from its source; a native or bound function cannot be
   * checked and is refused); the returned function takes the other parameters in order and
   * passes the state objects at their positions. Values are bound by reference: mutate them in
   * place. On a resumed run the saved values are copied into your objects. The state name is
   * `options.name`, else `fn.name`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { StatefulLoop } from "@spool/spool";
   *
   * const dir = await Deno.makeTempDir();
   * await using loop = await StatefulLoop.open(dir);
   * function add(x: number, acc: { sum: number }) {
   *   acc.sum += x;
   * }
   * const acc = { sum: 0 };
   * const addBound = loop.bindFunctionState(add, { state: { acc } });
   * for await (const { item } of loop.iterate([1, 2])) addBound(item);
   * assert.ok(acc.sum === 3);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  bindFunctionState<R>(
    fn: AnyFunction<R>,
    options: BindFunctionOptions,
  ): AnyFunction<R> {
    return this.#bindings.bindFunction(fn, options);
  }

  /**
   * Bind attributes of an object as state (the oups style): on a resumed run the saved values
   * are assigned to `obj[key]`; at each checkpoint the attributes are re-read, so both in-place
   * mutation and reassignment persist. Returns `obj`. The state name is `options.name`, else the
   * object's class name (a plain object needs an explicit name).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { StatefulLoop } from "@spool/spool";
   *
   * class Counter {
   *   n = 0;
   *   add(x: number) {
   *     this.n += x;
   *   }
   * }
   * const dir = await Deno.makeTempDir();
   * await using loop = await StatefulLoop.open(dir);
   * const c = loop.bindObjectState(new Counter(), { keys: ["n"] });
   * for await (const { item } of loop.iterate([1, 2])) c.add(item as number);
   * assert.ok(c.n === 3);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  bindObjectState<O extends object>(obj: O, options: BindObjectOptions<O>): O {
    return this.#bindings.bindObject(obj, options);
  }

  // ---- iteration (see loop_iteration.ts) ----

  /**
   * Iterate `source` in order, one item at a time with no look-ahead (an item reaches the body
   * as soon as the source yields it). An item counts as completed when the body finishes it
   * (the generator is resumed for the next one); checkpoints are taken between items.
   *
   * With `skipCompleted` (default) the first `loop.position` items of the source are dropped:
   * pass the same replayable source on every run. After the source is exhausted, when some
   * buffer site still holds data, one more step `{ final: true }` runs the body so every site's
   * `buffer()` call flushes (the cascade reaches later sites in code order). Then the final
   * checkpoint is saved.
   *
   * If the body throws or breaks, the current item is NOT completed: no checkpoint is written
   * for it, the loop stops (reopen it to resume from the last checkpoint) and the error reaches
   * you. `iterate` may be called once per loop.
   */
  iterate<T>(
    source: AnyIterable<T>,
    options: IterateOptions = {},
  ): LoopIterator<LoopStep<T>> {
    return this.#start(source, options, false) as LoopIterator<LoopStep<T>>;
  }

  /**
   * Like {@linkcode StatefulLoop.iterate}, for loops that do not buffer: yields the items
   * themselves (typed `T`, no step object). `buffer()` in such a loop is a `LoopMisuseError`
   * (the end-of-source flush needs the final step of `iterate`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { StatefulLoop } from "@spool/spool";
   *
   * const dir = await Deno.makeTempDir();
   * await using loop = await StatefulLoop.open(dir);
   * const total = loop.state("total", { sum: 0 });
   * for await (const n of loop.items([1, 2, 3])) total.sum += n;
   * assert.ok(total.sum === 6 && loop.position === 3);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  items<T>(source: AnyIterable<T>, options: IterateOptions = {}): LoopIterator<T> {
    return this.#start(source, options, true) as LoopIterator<T>;
  }

  #start<T>(
    source: AnyIterable<T>,
    options: IterateOptions,
    plain: boolean,
  ): LoopIterator<T | LoopStep<T>> {
    const action = "iterate a StatefulLoop";
    this.#cursor.assertOpen(action);
    if (this.#started) {
      throw new LoopMisuseError(
        action,
        "iterate() was already called on this loop; open the loop again for another run",
        { received: source },
      );
    }
    const o = optionsOf(action, options, ITERATE_OPTIONS);
    const skipCompleted = optionalBoolean(action, "skipCompleted", o.skipCompleted) ?? true;
    const signal = optionalSignal(action, "signal", o.signal);
    // The one source rule (strings refused, iterator methods must be functions, a typed error
    // naming this action). A sync source is pulled directly: no per-item promise wrapping
    // (thenables are still awaited); every result, sync or async, must be an object.
    const opened = openSource<T>(action, source);
    this.#started = true;
    if (plain && this.#cursor.holdsFrames()) {
      throw new LoopMisuseError(
        action,
        "the checkpoint holds buffered frames; use loop.iterate() so they can be flushed",
        { received: this.sites.filter((x) => x.frames > 0).map((x) => x.site) },
      );
    }
    this.#cursor.plain = plain;
    return new LoopIteration<T>({
      cursor: this.#cursor,
      triggers: this.#triggers,
      save: () => this.#save(),
      source: opened,
      plain,
      skipCompleted,
      signal,
    });
  }

  /**
   * Add `data` (one frame per key) to buffer site `site` and return the site's concatenated
   * frames when its bytes reach the memory limit, else `undefined`. Sites are named by you, so
   * calling a site conditionally is fine; a site takes the same keys on every call. Pass
   * `undefined` as data to add nothing (e.g. in the final pass, or when an upstream site did not
   * flush). In the final pass (`step.final`) every site holding data flushes.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Frame, StatefulLoop } from "@spool/spool";
   *
   * const dir = await Deno.makeTempDir();
   * await using loop = await StatefulLoop.open(dir);
   * const sizes: number[] = [];
   * const source = Array.from({ length: 5 }, () => new Frame({ v: new Float64Array(128) })); // 1 KiB each
   * for await (const step of loop.iterate(source)) {
   *   const out = loop.buffer("v", step.final ? undefined : { v: step.item }, { memoryLimitMb: 2 / 1024 });
   *   if (out) sizes.push(out.frames.v.length);
   * }
   * assert.ok(sizes.join() === "256,256,128"); // 2 KiB flushes, then the end-of-source flush
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  buffer<K extends string, F = Frame>(
    site: string,
    data: { readonly [P in K]: F } | undefined,
    options: BufferOptions<F> = NO_OPTIONS as BufferOptions<F>,
  ): Flush<K, F> | undefined {
    const action = "buffer frames";
    const cursor = this.#cursor;
    cursor.assertInBody(action, site);
    checkBufferOptions(action, options as BufferOptions<unknown>);
    const limitMb = options.memoryLimitMb ?? this.#limitMb;
    assertNumber(action, "memoryLimitMb", limitMb, 0);
    const adapter = (options.adapter ?? frameAdapter) as FrameAdapter<unknown>;
    const buf = siteFor(cursor.sites, site, adapter);
    if (data !== undefined) buf.add(data as Record<string, unknown>);
    if (!buf.holds) return undefined;
    if (cursor.final || buf.bytes >= Math.round(limitMb * MB)) {
      cursor.flushedThisItem = true;
      return buf.flush(cursor.final) as Flush<K, F>;
    }
    return undefined;
  }

  /** Ask for a checkpoint when the current item completes (whatever the triggers say). */
  requestCheckpoint(): void {
    this.#cursor.assertOpen("request a checkpoint");
    this.#cursor.requested = true;
  }

  async #save(): Promise<void> {
    try {
      await this.#store.save({ meta: { position: this.#cursor.position } });
      if (this.#prune) await this.#store.prune(this.#prune);
    } catch (error) {
      throw loopErrorOf(error);
    }
    this.#cursor.requested = false;
    this.#checkpoints++;
  }

  /**
   * Release the checkpoint directory (its lock): the store the loop opened is closed; a store
   * passed to `open` stays open (the loop's component is unregistered). Idempotent. Does not
   * save.
   */
  async close(): Promise<void> {
    const cursor = this.#cursor;
    if (cursor.closed) return;
    cursor.closed = true;
    cursor.clearTimer();
    await this.#release();
  }

  /** Same as {@linkcode StatefulLoop.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
