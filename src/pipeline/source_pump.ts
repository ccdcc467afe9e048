/**
 * Source pumps: each source is read in its own task, which injects the barriers the
 * coordinator asks for, obeys pause / stop / failure, skips to the resume position, and sends
 * every item to its targets (the nodes fused into it run inside this task).
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { nextOf, openSource, resultOf } from "../_internal/iterate.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";
import { BARRIER, Cancelled, emit, END, ITEM, type Message } from "./edge.ts";
import type { RunContext, SourceRuntime } from "./run_context.ts";
import type { SourceInput } from "./run_types.ts";

const WOKEN = Symbol("woken");

/** Wait for `wake()` or, when given, the pending pull (no reaction piles up on a
 * long-lived promise: each wait is its own promise). */
function waitForWake(
  src: SourceRuntime,
  next?: Promise<IteratorResult<unknown>>,
): Promise<IteratorResult<unknown> | typeof WOKEN> {
  return new Promise((resolve, reject) => {
    if (src.woke) {
      src.woke = false;
      resolve(WOKEN);
      return;
    }
    const waiter = () => {
      src.woke = false;
      resolve(WOKEN);
    };
    src.waiter = waiter;
    // A pull outlives the wait woken before it settles: it may unhook only its own waiter,
    // never that of a later wait (a paused one), or the next wake() would find none and the
    // source would wait forever.
    next?.then((r) => {
      if (src.waiter === waiter) src.waiter = undefined;
      resolve(r);
    }, (error) => {
      if (src.waiter === waiter) src.waiter = undefined;
      reject(error);
    });
  });
}

/** Read source `src` from `input` to its end (or the run's stop or failure). */
export async function pumpSource(
  context: RunContext,
  src: SourceRuntime,
  input: SourceInput,
): Promise<void> {
  const barriers = context.barriers;
  const rt = context.nodes.get(src.name)!;
  context.log({ type: "node-start", node: src.name });
  let syncIt: Iterator<unknown> | undefined;
  let asyncIt: AsyncIterator<unknown> | undefined;
  let nextP: Promise<IteratorResult<unknown>> | undefined;
  const ctl = new AbortController();
  try {
    if (context.resumedFrom?.done) {
      src.ended = true;
      await emit(src.targets, { kind: END, flush: true });
      return;
    }
    const action = `read source ${JSON.stringify(src.name)}`;
    const opened = openInput(action, src.position, input, ctl.signal);
    syncIt = opened.sync;
    asyncIt = opened.async;
    if (typeof input !== "function") await skipTo(action, src.position, syncIt, asyncIt);
    for (;;) {
      if (context.failed) return;
      if (src.barriers.length > 0) {
        const k = src.barriers.shift()!;
        barriers.sourcePassed(src, k);
        src.barrierAt = src.position;
        src.sinceBarrier = 0;
        await emit(src.targets, { kind: BARRIER, checkpoint: k });
        continue;
      }
      if (context.stopping) {
        src.ended = true;
        await emit(src.targets, { kind: END, flush: !barriers.checkpointing });
        return;
      }
      if (context.paused) {
        await waitForWake(src);
        continue;
      }
      let r: IteratorResult<unknown>;
      if (syncIt) r = resultOf(action, syncIt.next());
      else {
        nextP ??= nextOf(asyncIt!);
        const got = await waitForWake(src, nextP);
        if (got === WOKEN) continue;
        nextP = undefined;
        r = resultOf(action, got);
      }
      if (r.done) {
        src.ended = true;
        syncIt = asyncIt = undefined;
        for (const k of src.barriers.splice(0)) barriers.sourcePassed(src, k);
        await emit(src.targets, { kind: END, flush: true });
        return;
      }
      src.position++;
      rt.outputs++;
      const m: Message = { kind: ITEM, value: r.value };
      const targets = src.targets;
      for (let i = 0; i < targets.length; i++) {
        const e = targets[i]!;
        if (!e.tryPush(m)) await e.push(m);
      }
      if (barriers.everyItems > 0 && ++src.sinceBarrier >= barriers.everyItems) {
        barriers.request(false);
      }
      // One check per source item covers the nodes fused into this task (and gives the
      // other tasks, timers, signals and a checkpoint's file writes their turn).
      if (turnDue()) await giveTurn();
    }
  } catch (error) {
    if (!(error instanceof Cancelled)) context.fail(error);
  } finally {
    ctl.abort();
    if (context.failed || src.ended) await closeInput(context.failed, syncIt, asyncIt, nextP);
    context.log({ type: "node-end", node: src.name, outputs: rt.outputs });
  }
}

/** The iterator of a source's input (a factory is called with the resume position). */
function openInput(
  action: string,
  position: number,
  input: SourceInput,
  signal: AbortSignal,
): { sync?: Iterator<unknown>; async?: AsyncIterator<unknown> } {
  const iterable = typeof input === "function" ? input(position, { signal }) : input;
  if (iterable === null || (typeof iterable !== "object" && typeof iterable !== "function")) {
    throw new InvalidArgumentError(
      action,
      "a source must be an iterable, an async iterable, or a function (position) => iterable",
      { received: iterable },
    );
  }
  // The stream area's one rule (strings refused, iterator methods must be functions, a
  // next() that gives a non-object is an error as in `for await`).
  return openSource<unknown>(action, iterable);
}

/** Skip the `position` items a resumed run already read (an iterable given as it is). */
async function skipTo(
  action: string,
  position: number,
  syncIt: Iterator<unknown> | undefined,
  asyncIt: AsyncIterator<unknown> | undefined,
): Promise<void> {
  for (let i = 0; i < position; i++) {
    const r = resultOf(action, syncIt ? syncIt.next() : await nextOf(asyncIt!));
    if (r.done) break;
    if (turnDue()) await giveTurn();
  }
}

/** Close a source's iterator once it ended or the run failed. */
async function closeInput(
  failed: boolean,
  syncIt: Iterator<unknown> | undefined,
  asyncIt: AsyncIterator<unknown> | undefined,
  nextP: Promise<IteratorResult<unknown>> | undefined,
): Promise<void> {
  let ret: unknown;
  try {
    syncIt?.return?.();
    ret = asyncIt?.return?.();
  } catch {
    // ignore errors of return()
  }
  if (failed) {
    // Let the source's step in flight and its return() settle before this task ends, so
    // nothing it started (a timer, a read) outlives `done`; the run bounds this wait for a
    // source that never settles.
    await Promise.allSettled([nextP, ret]);
  } else {
    nextP?.catch(() => {});
    (ret as Promise<unknown> | undefined)?.catch?.(() => {});
  }
}
