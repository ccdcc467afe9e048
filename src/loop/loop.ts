/**
 * `StatefulLoop`: ordered processing of an (async) iterable with bound state, per-site frame
 * buffers flushed by memory limit, atomic checkpoints during the run, and exact resume.
 * See docs/loop.md for the guide and the delivery guarantees.
 *
 * @module
 */

import { abortError } from "../_internal/abort.ts";
import {
  assertInteger,
  assertNumber,
  ClosedError,
  describe,
  InvalidArgumentError,
} from "../errors.ts";
import {
  isRecord,
  optionalBoolean,
  optionalFunction,
  optionalSignal,
  optionalString,
  optionsOf,
  unknownKeys,
  unknownKeysReason,
} from "../_internal/options.ts";
import { type FrameAdapter, frameAdapter } from "../frame/adapter.ts";
import type { FrameReader, FrameWriter } from "../frame/codec.ts";
import { FrameError } from "../frame/errors.ts";
import type { Frame, NumericColumn } from "../frame/frame.ts";
import { decodeValue } from "../frame/values.ts";
import {
  LatestStatesKeeper,
  type LoadContext,
  type SaveContext,
  StateComponentError,
  StateMismatchError,
  StateStore,
} from "../state/mod.ts";
import type { AnyIterable } from "../stream/sized.ts";
import { badResult, isResult, nextOf, openSource, resultOf } from "../_internal/iterate.ts";
import { type Flush, frameSignature, SiteBuffer, type SiteInfo } from "./buffers.ts";
import { LoopCheckpointError, LoopMisuseError, LoopStateError } from "./errors.ts";
import { parameterInfo } from "./params.ts";
import { afterTurn, giveTurn, turnDue } from "../_internal/turn.ts";
import { recordProblems } from "./record.ts";
import {
  assertStateObject,
  encodeChecked,
  encodeStateObject,
  restoreInto,
  type StateEntry,
  type StoredState,
} from "./states.ts";

/** When the loop writes checkpoints. Every trigger is evaluated when an item completes. */
export interface CheckpointOptions {
  /** Save after every `everyItems` completed items; `false` (default) disables. */
  everyItems?: number | false;
  /** Save when at least `everyMs` ms passed since the last save (default 5000); `false` disables. */
  everyMs?: number | false;
  /** Save after an item during which some buffer site flushed (default `true`). */
  afterFlush?: boolean;
  /** Save when the source is exhausted and the final pass is done (default `true`). */
  atEnd?: boolean;
}

/** Options of {@linkcode StatefulLoop.open}. */
export interface StatefulLoopOptions {
  /** Default memory limit of a buffer site, in MiB (2^20 bytes); default 300. 0 flushes every call. */
  memoryLimitMb?: number;
  /** Checkpoint triggers (see {@linkcode CheckpointOptions}). */
  checkpoint?: CheckpointOptions;
  /** How many complete snapshots to keep in the store (default 2, minimum 1). */
  keep?: number;
  /** Adapters of non-`Frame` frame types a checkpoint may hold (e.g. `arrowAdapter(arrow)`). */
  adapters?: readonly FrameAdapter<unknown>[];
  /** When the newest snapshot is corrupt, load the previous one instead of throwing (default `false`). */
  fallback?: boolean;
  /** Clock in ms for `everyMs` (default `performance.now`); inject one in tests. */
  clock?: () => number;
}

/** Options of {@linkcode StatefulLoop.iterate}. */
export interface IterateOptions {
  /**
   * `true` (default): the source is replayable from its start; the items a checkpoint counts as
   * completed are pulled and dropped. `false`: the source already starts at `loop.position`.
   */
  skipCompleted?: boolean;
  /**
   * Stop between two items: the loop checkpoints what completed, then the generator throws
   * `AbortedError`.
   */
  signal?: AbortSignal;
}

/** Options of {@linkcode StatefulLoop.buffer}. */
export interface BufferOptions<F> {
  /** This site's memory limit in MiB (default: the loop's `memoryLimitMb`). */
  memoryLimitMb?: number;
  /** How to measure/concatenate/persist the frames (default {@linkcode frameAdapter}). */
  adapter?: FrameAdapter<F>;
}

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

/** Options of {@linkcode StatefulLoop.bindFunctionState}. */
export interface BindFunctionOptions {
  /** Parameter name → the object passed for it (mutated in place by the function). */
  state: Record<string, object>;
  /** State name (default: the function's name). */
  name?: string;
}

/** Options of {@linkcode StatefulLoop.bindObjectState}. */
export interface BindObjectOptions<O> {
  /** The attributes of the object that are state (re-read at each checkpoint). */
  keys: readonly (keyof O & string)[];
  /** State name (default: the object's class name). */
  name?: string;
}

const LOOP_OPTIONS = ["memoryLimitMb", "checkpoint", "keep", "adapters", "fallback", "clock"];
const CHECKPOINT_OPTIONS = ["everyItems", "everyMs", "afterFlush", "atEnd"];
const ITERATE_OPTIONS = ["skipCompleted", "signal"];
const BUFFER_OPTIONS = ["memoryLimitMb", "adapter"];
/** The default options of `buffer()`: known valid, so the per-call check is skipped. */
const NO_OPTIONS: BufferOptions<unknown> = Object.freeze({});

/** Throw unless `a` is a frame adapter (a name, `byteSize` and `concat`). */
function assertAdapter(action: string, what: string, a: unknown): void {
  const x = a as Partial<FrameAdapter<unknown>> | null;
  if (
    x === null || typeof x !== "object" || typeof x.name !== "string" || x.name === "" ||
    typeof x.byteSize !== "function" || typeof x.concat !== "function"
  ) {
    throw new InvalidArgumentError(action, `${what} must have name, byteSize and concat`, {
      received: a,
    });
  }
}

const FORMAT = "spool.loop";
const VERSION = 1;
const COMPONENT = "loop";
const MB = 1024 * 1024;

interface SiteRecord {
  name: string;
  adapter: string;
  bytes: number;
  seq: number;
  keys: string[] | null;
  counts: number[];
}

interface LoopFile {
  format: string;
  version: number;
  position: number;
  states: Record<string, { kind: string; value: unknown }>;
  sites: SiteRecord[];
}

function prefixed(ctx: SaveContext, prefix: string): FrameWriter {
  return {
    writeJson: (n, v) => ctx.writeJson(prefix + n, v),
    writeBytes: (n, b) => ctx.writeBytes(prefix + n, b),
    writeArray: (n, a) => ctx.writeArray(prefix + n, a),
  };
}

function prefixedReader(ctx: LoadContext, prefix: string): FrameReader {
  return {
    has: (n) => ctx.has(prefix + n),
    readJson: <T>(n: string) => ctx.readJson<T>(prefix + n),
    readBytes: (n) => ctx.readBytes(prefix + n),
    readArray: (n) => ctx.readArray(prefix + n) as NumericColumn,
  };
}

/** A function taking any arguments (what `bindFunctionState` returns). */
// deno-lint-ignore no-explicit-any
export type AnyFunction<R> = (...args: any[]) => R;

/** The loop's own typed error when the store wrapped it in a `StateComponentError`. */
function unwrap(error: unknown): unknown {
  const cause = error instanceof StateComponentError ? error.cause : undefined;
  return cause instanceof LoopCheckpointError || cause instanceof LoopMisuseError ||
      cause instanceof LoopStateError || cause instanceof FrameError
    ? cause
    : error;
}

const THENABLE = Symbol("thenable");
const ITERATE = "iterate a StatefulLoop";
let lastThenable: unknown;

/** Next result of a sync iterator; `THENABLE` (value in `lastThenable`) when it must be awaited. */
function pullSync<T>(it: Iterator<T>): IteratorResult<T> | typeof THENABLE {
  const r = resultOf<T>(ITERATE, it.next());
  const v = r.value as unknown;
  if (
    !r.done && v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (v as PromiseLike<unknown>).then === "function"
  ) {
    lastThenable = v;
    return THENABLE;
  }
  return r;
}

const OPEN = Symbol("StatefulLoop.open");

/**
 * An ordered loop over an (async) iterable whose state, position and buffered frames are
 * checkpointed atomically in a {@linkcode StateStore} directory during the run, so a process
 * killed at any moment resumes exactly: bound state is applied exactly once per item, and every
 * buffer flush carries a per-site sequence number for idempotent sinks.
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
  /** The checkpoint directory (a {@linkcode StateStore}). */
  readonly path: string;
  /** `true` when a checkpoint was loaded at open (this run resumes). */
  readonly resumed: boolean = false;
  readonly #store: StateStore;
  readonly #limitMb: number;
  readonly #everyItems: number | false;
  readonly #everyMs: number | false;
  readonly #afterFlush: boolean;
  readonly #atEnd: boolean;
  readonly #clock: () => number;
  readonly #injectedClock: boolean;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #adapters = new Map<string, FrameAdapter<unknown>>();
  readonly #entries = new Map<string, StateEntry>();
  #restored = new Map<string, StoredState>();
  readonly #sites = new Map<string, SiteBuffer>();
  #position = 0;
  #started = false;
  #inBody = false;
  #plain = false;
  #final = false;
  #stopped = false;
  #closed = false;
  #flushedThisItem = false;
  #requested = false;
  #checkpoints = 0;

  /**
   * Use {@linkcode StatefulLoop.open}: the constructor is internal (opening loads a checkpoint,
   * which is asynchronous).
   */
  private constructor(
    token: symbol,
    path: string,
    store: StateStore,
    options: StatefulLoopOptions,
  ) {
    if (token !== OPEN) {
      throw new LoopMisuseError("create a StatefulLoop", "use await StatefulLoop.open(path)");
    }
    this.path = path;
    this.#store = store;
    this.#limitMb = options.memoryLimitMb ?? 300;
    const cp = options.checkpoint ?? {};
    this.#everyItems = cp.everyItems ?? false;
    this.#everyMs = cp.everyMs ?? 5000;
    this.#afterFlush = cp.afterFlush ?? true;
    this.#atEnd = cp.atEnd ?? true;
    this.#clock = options.clock ?? (() => performance.now());
    this.#injectedClock = options.clock !== undefined;
    this.#adapters.set(frameAdapter.name, frameAdapter as FrameAdapter<unknown>);
    for (const a of options.adapters ?? []) this.#adapters.set(a.name, a as FrameAdapter<unknown>);
  }

  /**
   * Open the loop whose checkpoints live in directory `path` (created when missing). When the
   * directory holds a checkpoint, its states, position, buffered frames and flush sequence
   * numbers are loaded (states are applied when you bind them). The directory is locked until
   * `close()`; a second process opening it gets `StoreLockedError`.
   *
   * @param path the checkpoint directory
   * @param options memory limit, checkpoint triggers, retention, adapters
   * @throws {LoopCheckpointError} when the directory holds snapshots of something else, of an
   * incompatible version, or a damaged checkpoint record (every bad field named)
   * @throws {InvalidArgumentError} for a bad or unknown option, or a path that is a file or
   * cannot be created
   */
  static async open(path: string, options: StatefulLoopOptions = {}): Promise<StatefulLoop> {
    const action = "open a StatefulLoop";
    if (typeof path !== "string" || path === "") {
      throw new InvalidArgumentError(action, "path must be a non-empty string", { received: path });
    }
    const o = optionsOf(action, options, LOOP_OPTIONS);
    if (o.memoryLimitMb !== undefined) {
      assertNumber(action, "memoryLimitMb", o.memoryLimitMb, 0);
    }
    const cp = o.checkpoint ?? {};
    if (!isRecord(cp)) {
      throw new InvalidArgumentError(action, "checkpoint must be an object", { received: cp });
    }
    const unknownCp = unknownKeys(cp, CHECKPOINT_OPTIONS);
    if (unknownCp.length > 0) {
      throw new InvalidArgumentError(
        action,
        unknownKeysReason(unknownCp.map((k) => `checkpoint.${k}`), CHECKPOINT_OPTIONS),
        { received: cp },
      );
    }
    if (cp.everyItems !== undefined && cp.everyItems !== false) {
      assertInteger(action, "checkpoint.everyItems", cp.everyItems, 1);
    }
    if (cp.everyMs !== undefined && cp.everyMs !== false) {
      assertNumber(action, "checkpoint.everyMs", cp.everyMs, 0);
    }
    optionalBoolean(action, "checkpoint.afterFlush", cp.afterFlush);
    optionalBoolean(action, "checkpoint.atEnd", cp.atEnd);
    optionalBoolean(action, "fallback", o.fallback);
    optionalFunction(action, "clock", o.clock);
    const keep = assertInteger(action, "keep", o.keep ?? 2, 1);
    if (o.adapters !== undefined && !Array.isArray(o.adapters)) {
      throw new InvalidArgumentError(
        action,
        "adapters must be an array of frame adapters",
        { received: o.adapters },
      );
    }
    for (const a of (o.adapters ?? []) as unknown[]) assertAdapter(action, "adapters", a);
    const store = await StateStore.open(path, { keeper: new LatestStatesKeeper(keep) });
    const loop = new StatefulLoop(OPEN, path, store, options);
    store.register(COMPONENT, {
      saveState: (_dir, ctx) => loop.#saveState(ctx),
      loadState: (_dir, ctx) => loop.#loadState(ctx),
    });
    try {
      const loaded = await store.load("latest", { fallback: options.fallback ?? false });
      (loop as { resumed: boolean }).resumed = loaded !== undefined;
    } catch (error) {
      await store.close();
      const own = unwrap(error);
      if (own !== error) throw own;
      if (error instanceof StateMismatchError) {
        throw new LoopCheckpointError(
          action,
          "the directory holds snapshots that are not a StatefulLoop's",
          { received: path, cause: error },
        );
      }
      throw error;
    }
    return loop;
  }

  /** Number of items completed (the body finished them), counting those of earlier runs. */
  get position(): number {
    return this.#position;
  }

  /** `true` while the body runs the end-of-source pass. */
  get isFinal(): boolean {
    return this.#final;
  }

  /** Checkpoints written by this instance. */
  get checkpoints(): number {
    return this.#checkpoints;
  }

  /** Counters of every buffer site, in site order (first use, or checkpoint order). */
  get sites(): SiteInfo[] {
    return [...this.#sites.values()].map((s) => s.info());
  }

  /** Names of the states stored in the loaded checkpoint and not bound (yet) in this run. */
  get unboundStates(): string[] {
    return [...this.#restored.keys()].filter((n) => !this.#entries.has(n));
  }

  // ---- binding ----

  #assertBindable(action: string, name: unknown): string {
    this.#assertOpen(action);
    if (this.#started) {
      throw new LoopMisuseError(
        action,
        "iteration already started; bind every state before iterate()",
        { received: name },
      );
    }
    if (typeof name !== "string" || name === "") {
      throw new LoopStateError(action, "the state name must be a non-empty string", {
        received: name,
      });
    }
    if (this.#entries.has(name)) {
      throw new LoopStateError(
        action,
        "a state with this name is already bound; pass a distinct name",
        { received: name },
      );
    }
    return name;
  }

  #stored(action: string, name: string, kind: StoredState["kind"]): StoredState | undefined {
    const s = this.#restored.get(name);
    if (s && s.kind !== kind) {
      throw new LoopStateError(
        action,
        `the checkpoint holds "${name}" as a ${s.kind} state, not a ${kind} state`,
        { received: name },
      );
    }
    return s;
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
    const action = "bind a loop state";
    this.#assertBindable(action, name);
    assertStateObject(action, `state "${name}"`, initial);
    const stored = this.#stored(action, name, "state");
    if (stored) restoreInto(initial, stored.value, `state "${name}"`);
    this.#entries.set(name, {
      kind: "state",
      name,
      encode: (arrays) => encodeStateObject(initial, arrays, `state "${name}"`),
    });
    return initial;
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
    const action = "bind function state";
    if (typeof fn !== "function") {
      throw new InvalidArgumentError(action, "fn must be a function", { received: fn });
    }
    const o = optionsOf(action, options, ["state", "name"]);
    if (!isRecord(o.state)) {
      throw new InvalidArgumentError(action, "options.state must be a record of objects", {
        received: options,
      });
    }
    const name = optionalString(action, "name", o.name) ?? fn.name;
    if (!name) {
      throw new LoopStateError(action, "the function has no name; pass options.name", {
        received: fn,
      });
    }
    this.#assertBindable(action, name);
    const params = parameterInfo(fn);
    if (params === undefined) {
      throw new LoopStateError(
        action,
        `cannot read the parameter names of ${describe(fn)} (native or bound function); ` +
          "bind a plain function or use loop.state()",
        { received: fn },
      );
    }
    const names = params.map((p) => p.name).filter((n): n is string => n !== undefined);
    const keys = Object.keys(options.state);
    const at = new Map<number, object>();
    // Every bad key is reported at once (not only the first).
    const notParams: string[] = [];
    const problems: string[] = [];
    for (const key of keys) {
      const idx = params.findIndex((p) => p.name === key);
      if (idx < 0) {
        notParams.push(key);
        continue;
      }
      if (params[idx]?.rest) {
        problems.push(`state key "${key}" is a rest parameter of ${name}`);
        continue;
      }
      try {
        at.set(
          idx,
          assertStateObject(action, `state "${name}" parameter "${key}"`, options.state[key]),
        );
      } catch (error) {
        if (!(error instanceof LoopStateError)) throw error;
        problems.push(error.reason);
      }
    }
    if (notParams.length > 0) {
      const list = notParams.map((k) => `"${k}"`).join(", ");
      problems.unshift(
        `state key${notParams.length > 1 ? "s" : ""} ${list} ${
          notParams.length > 1 ? "are not parameters" : "is not a parameter"
        } of ${name}; its parameters are [${names.sort().join(", ")}]`,
      );
    }
    if (problems.length > 0) {
      throw new LoopStateError(action, problems.join("; "), { received: keys });
    }
    const stored = this.#stored(action, name, "function");
    if (stored) {
      const saved = stored.value as Record<string, unknown>;
      for (const key of keys) {
        if (saved !== null && typeof saved === "object" && key in saved) {
          restoreInto(
            options.state[key] as object,
            saved[key],
            `state "${name}" parameter "${key}"`,
          );
        }
      }
    }
    const state = { ...options.state };
    this.#entries.set(name, {
      kind: "function",
      name,
      encode: (arrays) => {
        const out: Record<string, unknown> = {};
        for (const k of keys) {
          out[k] = encodeStateObject(
            state[k] as object,
            arrays,
            `state "${name}" parameter "${k}"`,
          );
        }
        return out;
      },
    });
    const arity = params.length;
    return (...args: unknown[]): R => {
      const full: unknown[] = [];
      let a = 0;
      for (let i = 0; i < arity; i++) full.push(at.has(i) ? at.get(i) : args[a++]);
      while (a < args.length) full.push(args[a++]);
      return fn(...full);
    };
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
    const action = "bind object state";
    if (obj === null || typeof obj !== "object") {
      throw new InvalidArgumentError(action, "obj must be an object", { received: obj });
    }
    const o = optionsOf(action, options, ["keys", "name"]);
    if (!Array.isArray(o.keys) || o.keys.length === 0) {
      throw new InvalidArgumentError(
        action,
        "options.keys must be a non-empty array of attribute names",
        { received: options },
      );
    }
    const ctorName = (obj as { constructor?: { name?: string } }).constructor?.name;
    const name = optionalString(action, "name", o.name) ??
      (ctorName && ctorName !== "Object" ? ctorName : undefined);
    if (!name) {
      throw new LoopStateError(action, "a plain object has no stable name; pass options.name", {
        received: obj,
      });
    }
    this.#assertBindable(action, name);
    const keys = [...options.keys];
    const missing = keys.filter((k) => typeof k !== "string" || !(k in obj));
    if (missing.length) {
      throw new LoopStateError(
        action,
        `${name} has no attribute ${missing.map((k) => `"${String(k)}"`).join(", ")}`,
        { received: missing },
      );
    }
    const encode = (arrays: Parameters<StateEntry["encode"]>[0]) => {
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        out[k] = encodeChecked((obj as Record<string, unknown>)[k], arrays, `state "${name}".${k}`);
      }
      return out;
    };
    encode(() => "");
    const stored = this.#stored(action, name, "object");
    if (stored && stored.value !== null && typeof stored.value === "object") {
      const saved = stored.value as Record<string, unknown>;
      for (const k of keys) if (k in saved) (obj as Record<string, unknown>)[k] = saved[k];
    }
    this.#entries.set(name, { kind: "object", name, encode });
    return obj;
  }

  // ---- iteration ----

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
    this.#assertOpen(action);
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
    // The stream area's one rule (strings refused, iterator methods must be functions, a typed
    // error naming this action). A sync source is pulled directly: no per-item promise wrapping
    // (thenables are still awaited); every result, sync or async, must be an object.
    const opened = openSource<T>(action, source);
    const it: Iterator<T> | AsyncIterator<T> = opened.async ?? opened.sync;
    const sync = opened.async === undefined;
    this.#started = true;
    if (plain && [...this.#sites.values()].some((x) => x.holds)) {
      throw new LoopMisuseError(
        action,
        "the checkpoint holds buffered frames; use loop.iterate() so they can be flushed",
        { received: this.sites.filter((x) => x.frames > 0).map((x) => x.site) },
      );
    }
    this.#plain = plain;
    return this.#run(it, sync, plain, skipCompleted, signal);
  }

  /**
   * The iterator behind `iterate`: a hand-written async iterator (not an async generator) so
   * that, with a synchronous source and no checkpoint due, `next()` does its work synchronously
   * and returns one already-resolved promise.
   */
  #run<T>(
    it: Iterator<T> | AsyncIterator<T>,
    sync: boolean,
    plain: boolean,
    skip: boolean,
    signal: AbortSignal | undefined,
  ): LoopIterator<T | LoopStep<T>> {
    const action = "iterate a StatefulLoop";
    type R = IteratorResult<T | LoopStep<T>, void>;
    const DONE: R = Object.freeze({ done: true, value: undefined });
    let phase: "init" | "items" | "final" | "end" | "done" = "init";
    let inItem = false;
    let sourceDone = false;
    let peeked: IteratorResult<T> | typeof THENABLE | undefined;
    let sinceSave = 0;
    let lastSave = 0;
    let inflight: Promise<R> | undefined;
    // Whether this run completed an item or ran the final pass: a run that did neither (an
    // empty source, or nothing new after the checkpoint's position) persists nothing, so
    // initial values changed in code since are not overridden by a checkpoint of nothing.
    let worked = false;
    const everyItems = this.#everyItems;
    const everyMs = this.#everyMs;
    // Time trigger: an unref'd timer raises a flag (reading a clock per item costs more than the
    // loop itself); with an injected clock, the clock is read at each item completion instead.
    const injected = this.#injectedClock;
    let timeDue = false;
    const arm = () => {
      this.#clearTimer();
      if (everyMs === false) return;
      if (injected) {
        lastSave = this.#clock();
        return;
      }
      timeDue = false;
      const id = setTimeout(() => (timeDue = true), everyMs);
      Deno.unrefTimer(id as unknown as number);
      this.#timer = id;
    };

    const due = () =>
      this.#requested || (this.#afterFlush && this.#flushedThisItem) ||
      (everyItems !== false && sinceSave >= everyItems) ||
      (everyMs !== false && (injected ? this.#clock() - lastSave >= everyMs : timeDue));
    const save = async () => {
      await this.#save();
      sinceSave = 0;
      arm();
    };
    const begin = (value: T): R => {
      this.#assertOpen(action);
      this.#flushedThisItem = false;
      this.#inBody = true;
      inItem = true;
      return {
        done: false,
        value: plain ? value : { final: false, item: value, index: this.#position },
      };
    };
    const complete = () => {
      // the body finished the item it was given
      inItem = false;
      this.#inBody = false;
      this.#position++;
      sinceSave++;
      worked = true;
    };
    const pullAsync = async (): Promise<IteratorResult<T>> => {
      const r = peeked ??
        (sync
          ? pullSync(it as Iterator<T>)
          : resultOf<T>(action, await (it as AsyncIterator<T>).next()));
      peeked = undefined;
      if (r !== THENABLE) return r;
      const pending = lastThenable as T;
      lastThenable = undefined;
      return { done: false, value: await pending };
    };
    const stopSource = async () => {
      if (sourceDone) return;
      sourceDone = true;
      try {
        await it.return?.();
      } catch {
        // the source failed while being stopped: the error that stopped the loop wins
      }
    };
    const stop = async () => {
      this.#clearTimer();
      phase = "done";
      inItem = false;
      this.#inBody = false;
      this.#final = false;
      this.#stopped = true;
      await stopSource();
    };

    // The general (asynchronous) step.
    const advance = async (): Promise<R> => {
      if (phase === "init") {
        if (skip) {
          for (let i = 0; i < this.#position; i++) {
            const r = await pullAsync();
            if (r.done) {
              sourceDone = true;
              throw new LoopMisuseError(
                action,
                `the source ended after ${i} items but the checkpoint has ${this.#position} ` +
                  "completed; pass the same replayable source, or the remaining items with " +
                  "{ skipCompleted: false }",
                { received: i },
              );
            }
            if (turnDue()) await giveTurn();
          }
        }
        arm();
        phase = "items";
      }
      if (phase === "items") {
        if (inItem) {
          this.#assertOpen(action);
          complete();
          if (due()) await save();
        }
        if (signal?.aborted) {
          if (sinceSave > 0) await save();
          throw abortError(action, signal);
        }
        const r = await pullAsync();
        if (!r.done) return begin(r.value);
        sourceDone = true;
        if ([...this.#sites.values()].some((s) => s.holds)) {
          phase = "final";
          worked = true;
          this.#assertOpen(action);
          this.#final = true;
          this.#inBody = true;
          inItem = true;
          return { done: false, value: { final: true, item: undefined, index: this.#position } };
        }
        phase = "end";
      }
      if (phase === "final") {
        inItem = false;
        this.#inBody = false;
        this.#final = false;
        this.#assertOpen(action);
        const left = [...this.#sites.values()].filter((s) => s.holds);
        if (left.length) {
          throw new LoopMisuseError(
            "flush at the end of the source",
            `site${left.length > 1 ? "s" : ""} ${left.map((s) => `"${s.name}"`).join(", ")} ` +
              "still hold data after the final pass: call loop.buffer(site, undefined) for every " +
              "site when step.final is true",
            { received: left.map((s) => s.name) },
          );
        }
        phase = "end";
      }
      if (phase === "end") {
        this.#clearTimer();
        if (this.#atEnd && worked) await this.#save();
        phase = "done";
      }
      return DONE;
    };

    // The synchronous fast path; `undefined` when the general step is needed.
    const fast = (): R | undefined => {
      if (phase !== "items" || !sync || this.#closed) return undefined;
      if (inItem) {
        sinceSave++;
        const needSave = due();
        sinceSave--;
        if (needSave) return undefined;
        complete();
      }
      if (signal?.aborted) return undefined;
      const r = pullSync(it as Iterator<T>);
      if (r === THENABLE || r.done) {
        peeked = r;
        return undefined;
      }
      return begin(r.value);
    };

    const fail = async (error: unknown): Promise<R> => {
      inflight = undefined;
      await stop();
      throw error;
    };
    const settle = (r: R): R => {
      inflight = undefined;
      return r;
    };
    // Asynchronous source, nothing due: one `then` on the source's promise. An in-memory source
    // resolves at once: when a turn is due the item waits for it (still in flight).
    const onPulled = (r: IteratorResult<T>): R | Promise<R> =>
      !r.done && turnDue() ? afterTurn(r).then(onPulledNow) : onPulledNow(r);
    // A result that is not an object fails the run (as `for await` would, with a typed error).
    const onChecked = (r: IteratorResult<T>): R | Promise<R> =>
      isResult(r) ? onPulled(r) : fail(badResult(action, r));
    const onPulledNow = (r: IteratorResult<T>): R | Promise<R> => {
      if (r.done) {
        peeked = r;
        return advance().then(settle, fail);
      }
      try {
        return settle(begin(r.value));
      } catch (error) {
        return fail(error);
      }
    };

    const next = (): Promise<R> => {
      if (inflight) return inflight.then(next, next); // next() called before the last settled
      if (phase === "done") return Promise.resolve(DONE);
      try {
        if (sync) {
          const r = fast();
          // Timers, signals and the time trigger get a turn (a sync source never yields): the
          // item is taken, its hand-over waits for the turn.
          if (r !== undefined) return turnDue() ? afterTurn(r) : Promise.resolve(r);
        } else if (phase === "items" && !this.#closed && !signal?.aborted) {
          let ok = true;
          if (inItem) {
            sinceSave++;
            ok = !due();
            sinceSave--;
            if (ok) complete();
          }
          if (ok) return (inflight = nextOf(it as AsyncIterator<T>).then(onChecked, fail));
        }
      } catch (error) {
        return fail(error);
      }
      return (inflight = advance().then(settle, fail));
    };

    const finish = async (): Promise<R> => {
      if (inflight) await inflight.catch(() => {});
      if (phase !== "done") await stop();
      return DONE;
    };

    const iterator: LoopIterator<T | LoopStep<T>> = {
      next,
      return: () => finish(),
      throw: async (error?: unknown) => {
        await finish();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
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
    this.#assertOpen(action);
    if (this.#plain) {
      throw new LoopMisuseError(
        action,
        "loop.items() does not buffer (its end-of-source flush needs the final step): use " +
          "loop.iterate()",
        { received: site },
      );
    }
    if (!this.#inBody) {
      throw new LoopMisuseError(
        action,
        this.#stopped
          ? "the loop stopped in the middle of an item; open it again to resume"
          : "buffer() must be called inside the body of a loop.iterate() loop",
        { received: site },
      );
    }
    if (typeof site !== "string" || site === "") {
      throw new InvalidArgumentError(action, "site must be a non-empty string", { received: site });
    }
    if (options !== NO_OPTIONS) {
      optionsOf(action, options, BUFFER_OPTIONS);
      if (options.adapter !== undefined) assertAdapter(action, "adapter", options.adapter);
    }
    const limitMb = options.memoryLimitMb ?? this.#limitMb;
    assertNumber(action, "memoryLimitMb", limitMb, 0);
    const adapter = (options.adapter ?? frameAdapter) as FrameAdapter<unknown>;
    let buf = this.#sites.get(site);
    if (buf === undefined) {
      buf = new SiteBuffer(site, adapter);
      this.#sites.set(site, buf);
    } else if (buf.adapter !== adapter) {
      if (buf.adapter.name !== adapter.name) {
        throw new LoopMisuseError(
          action,
          `site "${site}" holds "${buf.adapter.name}" frames`,
          { received: adapter.name },
        );
      }
      buf.adapter = adapter; // restored site: the caller's adapter instance of the same name
    }
    if (data !== undefined) buf.add(data as Record<string, unknown>);
    if (!buf.holds) return undefined;
    if (this.#final || buf.bytes >= Math.round(limitMb * MB)) {
      this.#flushedThisItem = true;
      return buf.flush(this.#final) as Flush<K, F>;
    }
    return undefined;
  }

  /** Ask for a checkpoint when the current item completes (whatever the triggers say). */
  requestCheckpoint(): void {
    this.#assertOpen("request a checkpoint");
    this.#requested = true;
  }

  // ---- checkpoints ----

  async #save(): Promise<void> {
    try {
      await this.#store.save({ meta: { position: this.#position } });
    } catch (error) {
      throw unwrap(error);
    }
    this.#requested = false;
    this.#checkpoints++;
  }

  async #saveState(ctx: SaveContext): Promise<void> {
    let n = 0;
    const arrays = (a: NumericColumn) => {
      const f = `a${n++}`;
      void ctx.writeArray(f, a);
      return f;
    };
    const states: LoopFile["states"] = {};
    for (const [name, e] of this.#entries) states[name] = { kind: e.kind, value: e.encode(arrays) };
    for (const [name, s] of this.#restored) {
      if (!this.#entries.has(name)) {
        states[name] = { kind: s.kind, value: encodeChecked(s.value, arrays, `state "${name}"`) };
      }
    }
    const sites: SiteRecord[] = [];
    const writes: Promise<void>[] = [];
    let i = 0;
    for (const s of this.#sites.values()) {
      const counts: number[] = [];
      if (s.holds) {
        if (!s.adapter.save || !s.adapter.load) {
          throw new LoopMisuseError(
            "checkpoint a buffer",
            `site "${s.name}" holds frames of adapter "${s.adapter.name}", which has no save/load`,
            { received: s.adapter.name },
          );
        }
        s.compact();
      }
      let j = 0;
      for (const list of s.lists.values()) {
        counts.push(list.length);
        if (list.length === 1) {
          const w = s.adapter.save?.(list[0], prefixed(ctx, `s${i}.k${j}.`));
          if (w) writes.push(w);
        }
        j++;
      }
      sites.push({
        name: s.name,
        adapter: s.adapter.name,
        bytes: s.bytes,
        seq: s.seq,
        keys: s.keys ?? null,
        counts,
      });
      i++;
    }
    const file: LoopFile = {
      format: FORMAT,
      version: VERSION,
      position: this.#position,
      states,
      sites,
    };
    await Promise.all(writes);
    await ctx.writeJson("loop.json", file);
  }

  #loadState(ctx: LoadContext): void {
    const action = "load a StatefulLoop checkpoint";
    if (!ctx.has("loop.json")) {
      throw new LoopCheckpointError(action, "the snapshot has no loop.json", {
        received: this.path,
      });
    }
    const raw = ctx.readJson<unknown>("loop.json");
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new LoopCheckpointError(action, "loop.json is not an object", { received: raw });
    }
    const bag = raw as Record<string, unknown>;
    if (bag.format !== FORMAT) {
      throw new LoopCheckpointError(
        action,
        bag.format === undefined
          ? `field "format" is missing: the checkpoint is not a ${FORMAT} checkpoint`
          : `field "format" is not "${FORMAT}": the checkpoint is not a ${FORMAT} checkpoint`,
        { received: bag.format },
      );
    }
    if (bag.version !== VERSION) {
      throw new LoopCheckpointError(
        action,
        `the checkpoint has format version ${bag.version}; this spool reads version ${VERSION}`,
        { received: bag.version },
      );
    }
    const problems = recordProblems(bag);
    if (problems.length > 0) {
      throw new LoopCheckpointError(
        action,
        problems.length === 1
          ? problems[0]!
          : `${problems.length} problems: ${problems.join("; ")}`,
        { received: this.path },
      );
    }
    const file = bag as unknown as LoopFile;
    const arrays = (f: string) => ctx.readArray(f) as NumericColumn;
    const restored = new Map<string, StoredState>();
    for (const [name, s] of Object.entries(file.states)) {
      let value: unknown;
      try {
        value = decodeValue(s.value, arrays);
      } catch (error) {
        throw new LoopCheckpointError(
          action,
          `field "states.${name}.value" cannot be decoded (${
            error instanceof Error ? error.message : String(error)
          })`,
          { received: this.path, cause: error },
        );
      }
      restored.set(name, { kind: s.kind as StoredState["kind"], value });
    }
    this.#sites.clear();
    file.sites.forEach((r, i) => {
      const adapter = this.#adapters.get(r.adapter);
      const holds = r.counts.some((c) => c > 0);
      if (adapter === undefined && holds) {
        throw new LoopCheckpointError(
          action,
          `site "${r.name}" holds frames of adapter "${r.adapter}"; pass that adapter in options.adapters`,
          { received: r.adapter },
        );
      }
      const buf = new SiteBuffer(r.name, adapter ?? { name: r.adapter } as FrameAdapter<unknown>);
      buf.seq = r.seq;
      if (r.keys) {
        buf.keys = r.keys;
        r.keys.forEach((k, j) => {
          const list: unknown[] = [];
          if (r.counts[j]) {
            const f = (adapter as FrameAdapter<unknown>).load?.(
              prefixedReader(ctx, `s${i}.k${j}.`),
            );
            list.push(f);
            if (r.adapter === frameAdapter.name) buf.signatures.set(k, frameSignature(f as Frame));
          }
          buf.lists.set(k, list);
          buf.count += list.length;
        });
      }
      buf.bytes = r.bytes;
      this.#sites.set(r.name, buf);
    });
    this.#restored = restored;
    this.#position = file.position;
  }

  // ---- lifecycle ----

  #assertOpen(action: string): void {
    if (this.#closed) throw new ClosedError(action, "the loop is closed", { received: this.path });
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Release the checkpoint directory (its lock). Idempotent. Does not save. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    await this.#store.close();
  }

  /** Same as {@linkcode StatefulLoop.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
