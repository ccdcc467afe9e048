/**
 * Pool nodes: a node whose calls run on a `WorkerPool`. A feeder turns the node's input
 * messages into the input of one `pool.map` (items and `consume` groups) and, in a FIFO beside
 * it, the holes, barriers and end between them; the results are emitted in that FIFO's order,
 * so a barrier passes on once the results before it were emitted.
 *
 * @module
 */

import { InternalError } from "../errors.ts";
import { Ring } from "../_internal/ring.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";
import { TaskError } from "../pool/errors.ts";
import type { Slot } from "./checkpoint_codec.ts";
import {
  BARRIER,
  Cancelled,
  type ControlHandler,
  dispatchControl,
  emit,
  END,
  HOLE,
  ITEM,
  type Message,
} from "./edge.ts";
import { goodOf, groupOf, groupSlots, HOLE_VALUE } from "./input_reader.ts";
import { emitHoles, nodeResult, readerOf } from "./node_results.ts";
import type { NodeRuntime, RunContext } from "./run_context.ts";

/**
 * What a pool task's failure hands to the user: the worker's own error (rebuilt) that the pool's
 * `TaskError` wraps, so a pool node's `NodeError.cause` / dead letter `error` is the same kind of
 * value as a function node's. A worker crash or a task timeout stays as the pool reports it.
 */
function userError(error: unknown): unknown {
  return error instanceof TaskError && error.cause !== undefined ? error.cause : error;
}

/** Run the task of a pool node. */
export async function runPoolNode(context: RunContext, rt: NodeRuntime): Promise<void> {
  const def = rt.def;
  const reader = readerOf(context, rt);
  // The feeder reads ahead of the results: a barrier's entry records the input slots read and
  // the zip dead letters up to it, so the capture matches the outputs before it.
  type Capture = { group: Slot[]; pending: Slot[][] | undefined; read: number; dead: number };
  type Entry =
    | { kind: typeof ITEM; input: unknown }
    | { kind: typeof HOLE }
    | ({ kind: typeof BARRIER; checkpoint: number } & Capture)
    | ({ kind: typeof END; flush: boolean } & Capture);
  const fifo = new Ring<Entry>();
  let signal: (() => void) | undefined;
  const push = (e: Entry) => {
    fifo.push(e);
    const s = signal;
    signal = undefined;
    s?.();
  };
  let group: unknown[] = groupOf(rt.restored?.group);
  const ordered = context.barriers.checkpointing ? true : def.ordered;
  // Inputs by map index, kept for dead letters and errors: a FIFO when the map is ordered
  // (results come in index order), else a map (results come in completion order).
  // Each input's first slot position and slot count ride along (for dead letters/errors).
  const inputs = ordered ? undefined : new Map<number, [unknown, number, number]>();
  const inputQueue = ordered ? new Ring<unknown>(64) : undefined;
  const positionQueue = ordered ? new Ring<number>(64) : undefined;
  const countQueue = ordered ? new Ring<number>(64) : undefined;
  /** The map index the ordered map must yield next. */
  let nextIndex = 0;
  let takenAt = 0;
  let takenCount = 1;
  let takenLayout: unknown[] | undefined;
  // The slot layout of short groups (holes left out, or the last one), by map index.
  const layouts = new Map<number, unknown[]>();
  const takeInput = (index: number): unknown => {
    takenLayout = undefined;
    if (layouts.size > 0) {
      takenLayout = layouts.get(index);
      layouts.delete(index);
    }
    if (inputs !== undefined) {
      const e = inputs.get(index)!;
      inputs.delete(index);
      takenAt = e[1];
      takenCount = e[2];
      return e[0];
    }
    if (index !== nextIndex) {
      throw new InternalError(
        "run a pool node",
        `the ordered pool map yielded result ${index} where ${nextIndex} was next`,
      );
    }
    nextIndex++;
    takenAt = positionQueue!.shift();
    takenCount = countQueue!.shift();
    return inputQueue!.shift();
  };
  const ITEM_ENTRY: Entry = { kind: ITEM, input: undefined };
  let yielded = 0;
  // The map's input: a hand-written async iterator rather than an async generator (no
  // generator resumption per item; messages already queued are taken synchronously).
  const DONE: IteratorResult<unknown> = { done: true, value: undefined };
  let feedDone = false;
  // An END message whose leftover group was yielded first (pushed at the next `next()`).
  let endAfter: { flush: boolean } | undefined;
  const yieldItem = (v: unknown, at: number, count: number): IteratorResult<unknown> => {
    push(ITEM_ENTRY);
    if (inputs !== undefined) inputs.set(yielded, [v, at, count]);
    else {
      inputQueue!.push(v);
      positionQueue!.push(at);
      countQueue!.push(count);
    }
    yielded++;
    return { done: false, value: v };
  };
  const capture = (): Capture => ({
    group: groupSlots(group),
    pending: reader.snapshot(),
    read: rt.read,
    dead: rt.zipDead,
  });
  const pushEnd = (flush: boolean): IteratorResult<unknown> => {
    feedDone = true;
    push({ kind: END, flush, ...capture() });
    return DONE;
  };
  /** A full (or last) group: the good items go to the map; a group of holes is a hole. */
  const groupDone = (): IteratorResult<unknown> | undefined => {
    const g = group;
    group = [];
    const good = goodOf(g);
    if (good !== g || g.length < def.consume) layouts.set(yielded, g);
    if (good.length > 0) return yieldItem(good, rt.read - g.length, g.length);
    layouts.delete(yielded);
    push({ kind: HOLE });
    return undefined;
  };
  /** One input slot (an item, or a hole): what to return, or `undefined` to read on. */
  const slot = (value: unknown, hole: boolean): IteratorResult<unknown> | undefined => {
    const at = rt.read++;
    if (def.consume === 1) {
      if (hole) {
        push({ kind: HOLE });
        return undefined;
      }
      return yieldItem(value, at, 1);
    }
    group.push(hole ? HOLE_VALUE : value);
    if (group.length === def.consume) return groupDone();
    return undefined;
  };
  const control: ControlHandler<IteratorResult<unknown> | undefined> = {
    hole: () => slot(undefined, true),
    barrier: (m) => {
      push({ kind: BARRIER, checkpoint: m.checkpoint, ...capture() });
      return undefined;
    },
    end: (m) => {
      if (m.flush && group.length > 0) {
        const r = groupDone();
        if (r !== undefined) {
          endAfter = { flush: m.flush };
          return r;
        }
      }
      return pushEnd(m.flush);
    },
  };
  /** What to return for message `m`, or `undefined` to read on. */
  const handle = (m: Message): IteratorResult<unknown> | undefined =>
    m.kind === ITEM ? slot(m.value, false) : dispatchControl(m, control);
  const nextSlow = async (): Promise<IteratorResult<unknown>> => {
    try {
      for (;;) {
        const m = reader.poll() ?? await reader.next();
        if (feedDone) return DONE;
        const r = handle(m);
        if (r !== undefined) return r;
      }
    } catch (error) {
      feedDone = true;
      throw error;
    }
  };
  const feed: AsyncIterableIterator<unknown> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    next(): Promise<IteratorResult<unknown>> {
      try {
        if (feedDone) return Promise.resolve(DONE);
        if (endAfter !== undefined) return Promise.resolve(pushEnd(endAfter.flush));
        for (;;) {
          const m = reader.poll();
          if (m === undefined) return nextSlow();
          const r = handle(m);
          if (r !== undefined) return Promise.resolve(r);
        }
      } catch (error) {
        feedDone = true;
        return Promise.reject(error);
      }
    },
    return(): Promise<IteratorResult<unknown>> {
      feedDone = true;
      return Promise.resolve(DONE);
    },
  };
  const options: Record<string, unknown> = {
    ordered,
    errors: "collect",
    spread: def.inputs.length > 1 && def.consume === 1,
    signal: context.abort.signal,
  };
  if (def.chunkSize !== undefined) options.chunkSize = def.chunkSize;
  if (def.maxInFlight !== undefined) options.maxInFlight = def.maxInFlight;
  const it = def.pool!.map(feed, options as never) as AsyncIterator<
    { ok: boolean; value?: unknown; error?: unknown; index: number }
  >;
  let nextP:
    | Promise<IteratorResult<{ ok: boolean; value?: unknown; error?: unknown; index: number }>>
    | undefined;
  const nextResult = () => (nextP ??= it.next());
  let finished = false;
  try {
    for (;;) {
      while (fifo.length > 0 && fifo.peek().kind !== ITEM) {
        const e = fifo.shift();
        if (e.kind === HOLE) await emitHoles(rt);
        else if (e.kind === BARRIER) {
          context.barriers.capture(rt, e.checkpoint, {
            group: e.group,
            pending: e.pending,
            read: e.read,
            dead: rt.dead + e.dead,
          });
          await emit(rt.targets, { kind: BARRIER, checkpoint: e.checkpoint });
        } else if (e.kind === END) {
          if (e.flush) {
            context.barriers.endSnapshot(rt, {
              group: e.group,
              pending: e.pending,
              read: e.read,
              dead: rt.dead + e.dead,
            });
          }
          await emit(rt.targets, { kind: END, flush: e.flush });
          finished = true;
          return;
        }
      }
      if (fifo.length > 0) {
        if (turnDue()) await giveTurn();
        const r = await nextResult();
        nextP = undefined;
        if (r.done) {
          throw new InternalError("run a pool node", "the pool map ended before its inputs");
        }
        fifo.shift();
        const settled = r.value;
        const input = takeInput(settled.index);
        const p = nodeResult(
          context,
          rt,
          input,
          settled.ok,
          settled.ok ? settled.value : userError(settled.error),
          takenAt,
          takenCount,
          takenLayout,
        );
        if (p) await p;
        continue;
      }
      const fifoChanged = new Promise<void>((resolve) => (signal = resolve));
      await Promise.race([nextResult(), fifoChanged]);
      signal = undefined;
      if (context.failed) throw new Cancelled(context.error);
    }
  } catch (error) {
    if (context.failed) throw new Cancelled(context.error);
    throw error;
  } finally {
    if (!finished) {
      nextP?.catch(() => {});
      try {
        await it.return?.(undefined);
      } catch {
        // the map was cancelled with the run
      }
    } else {
      // Let the map see the end of its input.
      if (nextP === undefined) {
        const r = await it.next().catch(() => ({ done: true }));
        if (!r.done) {
          context.fail(
            new InternalError("run a pool node", "the pool map yielded more results than inputs"),
          );
        }
      } else await nextP.catch(() => {});
    }
  }
}
