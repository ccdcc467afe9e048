/**
 * Pool nodes: a node whose calls run on a `WorkerPool` (threads, processes) or a `NatsPool`
 * (remote workers), through one `pool.map`: both keep the same `map` contract (`passThrough`,
 * `errors: "collect"`, `Settled.input`), so this is one code path for the three backends. A
 * {@linkcode PoolFeed} turns the node's input messages into the map's inputs: an item (or the
 * good items of a `consume` group) goes to a worker; a hole, a barrier and the end become
 * {@linkcode Marker}s that the map passes through at their place (`passThrough`), without a
 * worker. The map hands everything back in input order (unordered: each marker is a fence), so
 * the node's task emits each result, and passes on each marker, as it comes out: a barrier
 * passes on once the results before it were emitted.
 *
 * @module
 */

import { InternalError } from "../errors.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";
import { TaskError } from "../pool/errors.ts";
import type { Settled } from "../pool/map_run.ts";
import type { SavedMessage } from "./checkpoint_codec.ts";
import {
  BARRIER,
  type BarrierMessage,
  Cancelled,
  type ControlHandler,
  dispatchControl,
  emit,
  END,
  type EndMessage,
  HOLE,
  HOLE_MESSAGE,
  ITEM,
  type Message,
} from "./edge.ts";
import { goodOf, groupOf, groupSlots, HOLE_VALUE, type InputReader } from "./input_reader.ts";
import { emitHoles, nodeResult, readerOf } from "./node_results.ts";
import type { NodeRuntime, RunContext } from "./run_context.ts";
import type { ResolvedNode } from "./spec.ts";

const ACTION = "run a pool node";

/**
 * What a node records at a barrier (or its end) besides its counts, taken when the feeder read
 * the barrier: the feeder reads ahead of the results, so this matches the outputs before it.
 */
interface Capture {
  /** The partial `consume` group. */
  group: SavedMessage[];
  /** The inputs queued for zipping. */
  pending: SavedMessage[][] | undefined;
  /** Input slots read. */
  read: number;
  /** Dead letters of zips that met a hole. */
  dead: number;
}

/**
 * A hole, a barrier or the end on its way through the node's `pool.map`: never sent to a worker
 * (the map's `passThrough` picks it), it comes out at its place among the results.
 */
class Marker {
  /** The message to pass on (a hole stands for one input slot, or one `consume` group). */
  readonly message: Message;
  /** What the node recorded when the feeder read it (barrier and end only). */
  readonly capture: Capture | undefined;

  constructor(message: Message, capture: Capture | undefined) {
    this.message = message;
    this.capture = capture;
  }
}

/** The marker of a hole (one object for all: it carries nothing of its own). */
const HOLE_MARKER = new Marker(HOLE_MESSAGE, undefined);
/** The map's `passThrough`: markers skip the workers. */
const isMarker = (item: unknown): item is Marker => item instanceof Marker;
const DONE: IteratorResult<unknown> = { done: true, value: undefined };
const HOLE_RESULT: IteratorResult<unknown> = { done: false, value: HOLE_MARKER };

/**
 * What a pool task's failure hands to the user: the worker's own error (rebuilt) that the pool's
 * `TaskError` wraps, so a pool node's `NodeError.cause` / dead letter `error` is the same kind of
 * value as a function node's. A worker crash or a task timeout stays as the pool reports it.
 */
function userError(error: unknown): unknown {
  return error instanceof TaskError && error.cause !== undefined ? error.cause : error;
}

/**
 * The input of a pool node's `pool.map`: the node's messages as map inputs (items, `consume`
 * groups) and markers, in order. A hand-written async iterator rather than an async generator:
 * no generator resumption per item, and messages already queued are taken synchronously.
 */
class PoolFeed
  implements AsyncIterableIterator<unknown>, ControlHandler<IteratorResult<unknown> | undefined> {
  /**
   * The input slot position of map input 0's first slot (a restored partial group's slots come
   * before the ones this run reads). Map input `i` starts at `base + (i - b) * consume`, `b`
   * being the barriers before it: every other map input takes `consume` slots (the last group
   * may be short, and its layout says so).
   */
  readonly base: number;
  /** The slot layout of short groups (holes left out, or the last one), by map index. */
  readonly #layouts = new Map<number, unknown[]>();
  readonly #rt: NodeRuntime;
  readonly #reader: InputReader;
  readonly #consume: number;
  #group: unknown[];
  /** Map inputs given so far (items and markers): the map index of the next one. */
  #given = 0;
  #done = false;
  /** An end whose leftover group was given first (its marker is given next). */
  #endAfter: EndMessage | undefined;

  constructor(context: RunContext, rt: NodeRuntime) {
    this.#rt = rt;
    this.#reader = readerOf(context, rt);
    this.#consume = rt.def.consume;
    this.#group = groupOf(rt.restored?.group);
    this.base = rt.read - this.#group.length;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The layout of map input `index` if it is a short group (taken: asked once per result). */
  takeLayout(index: number): unknown[] | undefined {
    if (this.#layouts.size === 0) return undefined;
    const layout = this.#layouts.get(index);
    if (layout !== undefined) this.#layouts.delete(index);
    return layout;
  }

  next(): Promise<IteratorResult<unknown>> {
    try {
      if (this.#done) return Promise.resolve(DONE);
      if (this.#endAfter !== undefined) return Promise.resolve(this.end(this.#endAfter));
      for (;;) {
        const m = this.#reader.poll();
        if (m === undefined) return this.#nextSlow();
        const r = m.kind === ITEM ? this.#slot(m.value, false) : dispatchControl(m, this);
        if (r !== undefined) return Promise.resolve(r);
      }
    } catch (error) {
      this.#done = true;
      return Promise.reject(error);
    }
  }

  async #nextSlow(): Promise<IteratorResult<unknown>> {
    const reader = this.#reader;
    try {
      for (;;) {
        const m = reader.poll() ?? await reader.next();
        if (this.#done) return DONE;
        const r = m.kind === ITEM ? this.#slot(m.value, false) : dispatchControl(m, this);
        if (r !== undefined) return r;
      }
    } catch (error) {
      this.#done = true;
      throw error;
    }
  }

  return(): Promise<IteratorResult<unknown>> {
    this.#done = true;
    return Promise.resolve(DONE);
  }

  /** A hole: one input slot (a hole marker, or `undefined` while a group fills). */
  hole(): IteratorResult<unknown> | undefined {
    return this.#slot(undefined, true);
  }

  /** A barrier: its marker, with what the node records at it. */
  barrier(m: BarrierMessage): IteratorResult<unknown> {
    return this.#give(new Marker(m, this.#capture()));
  }

  /** The end: the leftover group first (when flushing), then the end's marker. */
  end(m: EndMessage): IteratorResult<unknown> {
    if (m.flush && this.#group.length > 0) {
      this.#endAfter = m;
      return this.#groupDone();
    }
    this.#endAfter = undefined;
    this.#done = true;
    return this.#give(new Marker(m, this.#capture()));
  }

  #capture(): Capture {
    const rt = this.#rt;
    return {
      group: groupSlots(this.#group),
      pending: this.#reader.snapshot(),
      read: rt.read,
      dead: rt.zipDead,
    };
  }

  #give(value: unknown): IteratorResult<unknown> {
    this.#given++;
    return value === HOLE_MARKER ? HOLE_RESULT : { done: false, value };
  }

  /** One input slot (an item, or a hole): what to give, or `undefined` to read on. */
  #slot(value: unknown, hole: boolean): IteratorResult<unknown> | undefined {
    this.#rt.read++;
    if (this.#consume === 1) return this.#give(hole ? HOLE_MARKER : value);
    const group = this.#group;
    group.push(hole ? HOLE_VALUE : value);
    return group.length === this.#consume ? this.#groupDone() : undefined;
  }

  /** A full (or last) group: its good items go to a worker; a group of holes is a hole. */
  #groupDone(): IteratorResult<unknown> {
    const group = this.#group;
    this.#group = [];
    const good = goodOf(group);
    if (good.length === 0) return this.#give(HOLE_MARKER);
    if (good !== group || group.length < this.#consume) this.#layouts.set(this.#given, group);
    return this.#give(good);
  }
}

/** A pool node's results, as `pool.map` gives them back (`errors: "collect"`). */
type Results = AsyncIterator<Settled<unknown, unknown, Marker>>;

/**
 * Pass on a marker that came out of the map; returns true for the end. A barrier records the
 * node (what its feeder captured, with the dead letters emitted by now) before it passes on.
 */
async function passOn(context: RunContext, rt: NodeRuntime, marker: Marker): Promise<boolean> {
  const m = marker.message;
  if (m.kind === HOLE) {
    await emitHoles(rt);
    return false;
  }
  const c = marker.capture!;
  const snapshot = { group: c.group, pending: c.pending, read: c.read, dead: rt.dead + c.dead };
  if (m.kind === BARRIER) {
    context.barriers.capture(rt, m.checkpoint, snapshot);
    await emit(rt.targets, m);
    return false;
  }
  if (m.kind !== END) throw new InternalError(ACTION, "an item came out as a marker");
  if (m.flush) context.barriers.endSnapshot(rt, snapshot);
  await emit(rt.targets, m);
  return true;
}

/**
 * Emit the map's results until the end's marker passed on. A failed call's input is the map's
 * `Settled.input` (what was sent: the item, the good items of a group, or the zipped tuple);
 * its position and slot count follow from the map index (see {@linkcode PoolFeed.base}).
 */
async function emitResults(
  context: RunContext,
  rt: NodeRuntime,
  feed: PoolFeed,
  results: Results,
): Promise<void> {
  const consume = rt.def.consume;
  let barriers = 0;
  for (;;) {
    if (turnDue()) await giveTurn();
    const r = await results.next();
    if (r.done) throw new InternalError(ACTION, "the pool map ended before the end's marker");
    const settled = r.value;
    if (settled.ok && settled.passed === true) {
      if (await passOn(context, rt, settled.value)) return;
      if (settled.value !== HOLE_MARKER) barriers++;
      continue;
    }
    const index = settled.index;
    const layout = feed.takeLayout(index);
    const p = nodeResult(
      context,
      rt,
      settled.input,
      settled.ok,
      settled.ok ? settled.value : userError(settled.error),
      feed.base + (index - barriers) * consume,
      layout === undefined ? consume : layout.length,
      layout,
    );
    if (p) await p;
  }
}

/**
 * The node's `pool.map` over its feed (`spread` for zipped inputs: each tuple is the argument
 * list); checkpointing forces ordered results.
 */
function mapOf(context: RunContext, def: ResolvedNode, feed: PoolFeed): Results {
  return def.pool!.map(feed, {
    ordered: context.barriers.checkpointing ? true : def.ordered,
    errors: "collect",
    spread: def.inputs.length > 1 && def.consume === 1,
    signal: context.abort.signal,
    passThrough: isMarker,
    chunkSize: def.chunkSize,
    maxInFlight: def.maxInFlight,
  });
}

/**
 * Run the task of a pool node: one `pool.map` over its {@linkcode PoolFeed}, its results
 * emitted in order (or in completion order with `ordered: false`, allowed without checkpoints).
 */
export async function runPoolNode(context: RunContext, rt: NodeRuntime): Promise<void> {
  const feed = new PoolFeed(context, rt);
  const results = mapOf(context, rt.def, feed);
  let ended = false;
  try {
    await emitResults(context, rt, feed, results);
    ended = true;
    // The map sees the end of its input (nothing may follow the end's marker).
    const r = await results.next();
    if (!r.done) throw new InternalError(ACTION, "the pool map yielded more results than inputs");
  } catch (error) {
    if (context.failed) throw new Cancelled(context.error);
    if (ended) context.fail(error);
    throw error;
  } finally {
    if (!ended) {
      try {
        await results.return?.(undefined);
      } catch {
        // the map was cancelled with the run
      }
    }
  }
}
