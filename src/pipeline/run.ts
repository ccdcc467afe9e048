/**
 * `PipelineRun`: one execution of a pipeline — source pumps, node tasks, sink buffers, run
 * control (pause/resume/stop/abort/wait) and barrier-aligned checkpoints.
 *
 * @module
 */

import { abortError } from "../_internal/abort.ts";
import { assertNumber, InvalidArgumentError, SpoolError } from "../errors.ts";
import { optionalFunction, optionsOf } from "../_internal/options.ts";
import type { AnyIterable } from "../stream/sized.ts";
import { nextOf, openSource, resultOf } from "../_internal/iterate.ts";
import { StateStore } from "../state/store.ts";
import { LatestStatesKeeper } from "../state/keepers.ts";
import {
  BARRIER,
  Cancelled,
  Edge,
  END,
  type GrowPolicy,
  HOLE,
  HOLE_MSG,
  ITEM,
  type Msg,
} from "./edge.ts";
import { CheckpointError, HoleError, NodeError, PipelineTimeoutError } from "./errors.ts";
import { TaskError } from "../pool/errors.ts";
import {
  checkCheckpoint,
  CheckpointComponent,
  type CheckpointData,
  copyState,
  type NodeSnapshot,
  type Slot,
  StateCopier,
} from "./checkpoint.ts";
import type { NumericArray } from "../_internal/typed_arrays.ts";
import type { ResolvedNode } from "./spec.ts";
import { giveTurn, promptTurns, turnDue } from "../_internal/turn.ts";

/**
 * A source given to `run`: an iterable, or a factory called with the position to resume at and
 * a signal that is aborted when the source stops being read (stop, failure, end of the run).
 */
export type SourceInput =
  | AnyIterable<unknown>
  | ((position: number, context: { signal: AbortSignal }) => AnyIterable<unknown>);

/** A structured log event of a run. */
export type PipelineEvent =
  | {
    type: "run-start";
    resumed: boolean;
    checkpoint?: number;
    positions?: Record<string, number>;
    /** Dead letters of the earlier runs up to the checkpoint resumed from. */
    deadLetters?: number;
    /**
     * The checkpoint resumed from marks the job finished: no source is read, nothing reaches
     * the sinks, and no checkpoint is written (the store stays as it is).
     */
    alreadyComplete: boolean;
  }
  | { type: "node-start"; node: string }
  | { type: "node-end"; node: string; outputs: number }
  | {
    type: "node-error";
    node: string;
    /** The input position of the failed call (see `DeadLetter.position`). */
    position: number;
    item: unknown;
    error: unknown;
    policy: "fail" | "dead-letter";
  }
  | {
    type: "checkpoint";
    checkpoint: number;
    path: string;
    positions: Record<string, number>;
    done: boolean;
  }
  | { type: "sink-grow"; sink: string; capacity: number }
  | { type: "zip-leftover"; node: string; items: number }
  | { type: "run-end"; ok: boolean; error?: unknown };

/**
 * An input that did not become an output: it failed in a node with `errors: "dead-letter"`, it
 * was zipped with a hole (its partner on another input failed upstream), or a zip could not pair
 * it at the end (another input ended first). See "Holes, dead letters and failing neighbours" in
 * docs/pipeline.md.
 */
export interface DeadLetter {
  /** The node whose function threw (or whose zip met a hole). */
  node: string;
  /**
   * 0-based position of the (first) input slot of the failed call in the node's input stream.
   * Holes count as slots, so it is the upstream node's output index, stable across resumes; for
   * a node reading a source directly it is the source item's index. A fan-in node counts zipped
   * tuples.
   */
  position: number;
  /** Input slots the call covered: 1, or the slots of its `consume` group (holes included). */
  count: number;
  /** The input it received (the args array for several inputs, the good items of a `consume`
   * group); for a zip with a hole, the args array with `undefined` where the hole was. */
  item: unknown;
  /** What it threw: the user's error as thrown (a pool node: the worker's error rebuilt, or
   * `WorkerCrashError` / `TimeoutError`); for a zip with a hole, a `HoleError`. */
  error: unknown;
}

/** Options of `pipeline.run`. */
export interface RunOptions {
  /** Aborts the run: `done` rejects with `AbortedError`. */
  signal?: AbortSignal;
  /** Checkpoint store (a `StateStore` or a directory); resumes from its latest checkpoint. */
  store?: StateStore | string;
  /** When sources inject barriers: every `items` items read by a source and/or every `ms`. */
  checkpointEvery?: { items?: number; ms?: number };
  /** With a directory `store`: how many of the newest checkpoints to keep (default 3). */
  keep?: number;
  /** Component name in the store (default `"pipeline"`). */
  stateName?: string;
  /** Structured log events. */
  logger?: (event: PipelineEvent) => void;
}

/** What the runtime needs from the pipeline definition. */
export interface RunPlan {
  order: string[];
  nodes: Map<string, ResolvedNode>;
  outputsOf: (name: string) => string[];
  sources: string[];
  sinks: string[];
  buffer: number;
  sinkBuffer: number;
  /** Run chains of single-input synchronous-shape nodes inside their upstream's task. */
  fuse: boolean;
  logger?: (event: PipelineEvent) => void;
}

/** A sink output with its sequence number (position in that sink's output stream). */
export interface SinkEntry<T = unknown> {
  /** The item. */
  value: T;
  /** 0-based sequence number, stable across resumes of a deterministic pipeline. */
  seq: number;
}

/** Where a node sends its messages: an edge, or a node fused into the sender's task. */
interface Target {
  tryPush(m: Msg): boolean;
  push(m: Msg): Promise<void>;
}

interface NodeRt {
  def: ResolvedNode;
  ins: Edge[];
  outs: Target[];
  fused: boolean;
  outputs: number;
  /** Input slots taken (items and holes; zipped tuples for several inputs). */
  read: number;
  /** Dead letters of failed calls (this run and, restored, the earlier ones). */
  dead: number;
  /** Dead letters of zips that met a hole (counted where the reader takes the tuple). */
  zipDead: number;
  state: unknown;
  restored?: NodeSnapshot;
  copier: StateCopier;
}

interface SourceRt {
  name: string;
  outs: Target[];
  position: number;
  ended: boolean;
  barriers: number[];
  /** Set by `wake()`, cleared when the pump re-checks its state. */
  woke: boolean;
  /** The pump's pending wait, if any. */
  waiter: (() => void) | undefined;
  wake: () => void;
  sinceBarrier: number;
  /** The position of the last barrier injected (or resumed from). */
  barrierAt: number;
}

interface SinkRt {
  name: string;
  edge: Edge;
  seq: number;
  ended: boolean;
  flushed: boolean;
  managed: boolean;
  reading: boolean;
  /**
   * Abandoned by `stop()` before anyone read it: its items were discarded, so no checkpoint may
   * count them as delivered (a resume delivers them again, as after a crash).
   */
  unread?: boolean;
  lastPull: number;
  endResolve: () => void;
  endPromise: Promise<void>;
}

interface Pending {
  k: number;
  positions: Record<string, number>;
  nodes: Record<string, NodeSnapshot>;
  sinks: Record<string, number>;
  buffers: { copier: StateCopier; used: NumericArray[] }[];
}

const WOKEN = Symbol("woken");
/** A sink reader that has not pulled for this long may be blocked on another sink. */
const AWAY_MS = 50;
/** How long a failed run waits for its tasks to wind down before `done` rejects anyway. */
const FAIL_GRACE_MS = 1000;
const HOLE_VALUE = Symbol("hole");

function toSlot(m: Msg): Slot {
  return m.t === ITEM ? [0, m.v] : [1];
}
function fromSlot(s: Slot): Msg {
  return s[0] === 0 ? { t: ITEM, v: s[1] } : HOLE_MSG;
}
function groupSlots(group: unknown[]): Slot[] {
  return group.map((v) => (v === HOLE_VALUE ? [1] : [0, v]));
}
/**
 * What a pool task's failure hands to the user: the worker's own error (rebuilt) that the pool's
 * `TaskError` wraps, so a pool node's `NodeError.cause` / dead letter `error` is the same kind of
 * value as a function node's. A worker crash or a task timeout stays as the pool reports it.
 */
function userError(error: unknown): unknown {
  return error instanceof TaskError && error.cause !== undefined ? error.cause : error;
}
/**
 * A typed error of the store (a corrupt snapshot, a lock held) passes as it is; a raw file-system
 * error (the path is a file, a parent is missing or not writable) becomes a `CheckpointError`
 * naming the directory, with the original as `cause`.
 */
function storeError(error: unknown, dir: string): unknown {
  if (error instanceof SpoolError) return error;
  return new CheckpointError(
    "open the checkpoint store",
    `its directory cannot be used (${
      error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    })`,
    { received: dir, cause: error },
  );
}
/** The good items of a `consume` group (holes left out, order kept). */
function goodOf(group: unknown[]): unknown[] {
  return group.includes(HOLE_VALUE) ? group.filter((v) => v !== HOLE_VALUE) : group;
}

/** Reads a node's inputs: zips several inputs in declared order and aligns barriers. */
class InputReader {
  readonly edges: Edge[];
  readonly pending: Msg[][];
  readonly blocked: (number | undefined)[];
  readonly ended: boolean[];
  flush = true;
  readonly #run: PipelineRun;
  readonly #node: string;
  /** Called with the zipped heads when some (not all) of them are holes, and at the end with
   * the heads of each tuple left unzipped (`undefined` for an input that had ended), with the
   * tuple's offset after the last zipped one. */
  readonly #onHole: ((heads: (Msg | undefined)[], offset: number) => void) | undefined;

  constructor(
    run: PipelineRun,
    node: string,
    edges: Edge[],
    restored?: Slot[][],
    onHole?: (heads: (Msg | undefined)[], offset: number) => void,
  ) {
    this.#run = run;
    this.#node = node;
    this.#onHole = onHole;
    this.edges = edges;
    this.pending = edges.map((_, i) => (restored?.[i] ?? []).map(fromSlot));
    this.blocked = edges.map(() => undefined);
    this.ended = edges.map(() => false);
  }

  snapshot(): Slot[][] | undefined {
    if (this.edges.length < 2) return undefined;
    return this.pending.map((q) => q.map(toSlot));
  }

  /** The next message if one is ready without waiting (several inputs: ITEM's value is the
   * args array), else `undefined`. */
  poll(): Msg | undefined {
    const edges = this.edges;
    if (edges.length === 1) return edges[0]!.tryPull();
    const n = edges.length;
    for (;;) {
      let all = true;
      for (let i = 0; i < n; i++) {
        if (this.pending[i]!.length === 0) {
          all = false;
          break;
        }
      }
      if (all) {
        const heads = this.pending.map((q) => q.shift()!);
        let holes = 0;
        for (const h of heads) if (h.t === HOLE) holes++;
        if (holes > 0) {
          // The good items zipped with a hole go to the dead letters (never silently).
          if (holes < heads.length) this.#onHole?.(heads, 0);
          return HOLE_MSG;
        }
        return { t: ITEM, v: heads.map((h) => (h as { v: unknown }).v) };
      }
      let progressed = false;
      for (let i = 0; i < n; i++) {
        if (this.blocked[i] !== undefined || this.ended[i]) continue;
        const m = edges[i]!.tryPull();
        if (m === undefined) continue;
        progressed = true;
        if (m.t === ITEM || m.t === HOLE) this.pending[i]!.push(m);
        else if (m.t === BARRIER) this.blocked[i] = m.k;
        else {
          this.ended[i] = true;
          if (!m.flush) this.flush = false;
        }
      }
      if (progressed) continue;
      let open = 0;
      let k: number | undefined;
      for (let i = 0; i < n; i++) {
        if (this.blocked[i] !== undefined) k = this.blocked[i];
        else if (!this.ended[i]) open++;
      }
      if (open === 0 && k !== undefined) {
        this.blocked.fill(undefined);
        return { t: BARRIER, k };
      }
      if (open === 0) {
        const left = this.pending.reduce((a, q) => a + q.length, 0);
        if (left > 0) {
          this.#run.log({ type: "zip-leftover", node: this.#node, items: left });
          if (this.flush) {
            // Some inputs ended before others (sources of different lengths): the items left
            // cannot be zipped; they go to the dead letters rather than vanish.
            const depth = Math.max(...this.pending.map((q) => q.length));
            for (let j = 0; j < depth; j++) this.#onHole?.(this.pending.map((q) => q[j]), j);
            for (const q of this.pending) q.length = 0;
          }
        }
        return { t: END, flush: this.flush };
      }
      return undefined;
    }
  }

  /** The next message, waiting for it. */
  async next(): Promise<Msg> {
    const edges = this.edges;
    if (edges.length === 1) {
      const e = edges[0]!;
      return e.tryPull() ?? await e.pull();
    }
    const n = edges.length;
    for (;;) {
      const m = this.poll();
      if (m !== undefined) return m;
      await new Promise<void>((resolve) => {
        for (let i = 0; i < n; i++) {
          if (this.blocked[i] === undefined && !this.ended[i]) edges[i]!.listener = resolve;
        }
      });
      for (const e of edges) e.listener = undefined;
    }
  }
}

/** Refuse a plan that `Pipeline.run` did not build (`new PipelineRun` is internal). */
function checkPlan(plan: unknown): asserts plan is RunPlan {
  const p = plan as Partial<RunPlan> | null;
  if (
    p === null || typeof p !== "object" || !Array.isArray(p.order) || !(p.nodes instanceof Map) ||
    typeof p.outputsOf !== "function" || !Array.isArray(p.sources) || !Array.isArray(p.sinks)
  ) {
    throw new InvalidArgumentError(
      "start a pipeline run",
      "the plan must be one Pipeline.run builds (start a run with pipeline.run(sources))",
      { received: plan },
    );
  }
}

/**
 * One run of a pipeline (see `Pipeline.run`). Read `outputs[sink]` (async iterables; any order
 * is safe), await `done`, and control it with `pause`, `resume`, `stop`, `wait`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Pipeline } from "@spool/spool";
 *
 * const p = new Pipeline();
 * p.source("words");
 * p.node("upper", { inputs: ["words"], fn: (w: string) => w.toUpperCase() });
 * p.node("length", { inputs: ["words"], fn: (w: string) => w.length });
 * const run = p.run({ words: ["a", "bb", "ccc"] });
 * // Reading one sink to its end before the other is safe (no deadlock).
 * const lengths: unknown[] = [];
 * for await (const n of run.outputs.length!) lengths.push(n);
 * const upper: unknown[] = [];
 * for await (const w of run.outputs.upper!) upper.push(w);
 * await run.done;
 * assert.ok(lengths.join() === "1,2,3" && upper.join() === "A,BB,CCC");
 * ```
 */
export class PipelineRun {
  /** Each sink's outputs, as an async iterable (read each at most once). */
  readonly outputs: Record<string, AsyncIterable<unknown>> = {};
  /**
   * This run's dead letters (items that failed in nodes with `errors: "dead-letter"`, and good
   * items zipped with a hole), in the order they occurred. After a resume, the earlier runs'
   * ones are counted in {@linkcode PipelineRun.deadLettersTotal}, not listed here.
   */
  readonly deadLetters: DeadLetter[] = [];
  /** Resolves when every sink was read to its end and the last checkpoint is committed;
   * rejects with the run's error (`NodeError`, `AbortedError`, ...). */
  readonly done: Promise<void>;
  /** The checkpoint this run resumed from, if any. */
  readonly resumedFrom:
    | { checkpoint: number; positions: Record<string, number>; done: boolean }
    | undefined;

  /**
   * Dead letters of all runs of this checkpoint store, each counted once: the earlier runs' up to
   * the checkpoint resumed from, plus this run's (which re-occur after that checkpoint exactly
   * as they did before the crash or stop). Without a store: `deadLetters.length`.
   */
  get deadLettersTotal(): number {
    return this.#deadBefore + this.deadLetters.length;
  }
  #deadBefore = 0;

  readonly #plan: RunPlan;
  readonly #logger: ((e: PipelineEvent) => void) | undefined;
  readonly #nodes = new Map<string, NodeRt>();
  readonly #sources = new Map<string, SourceRt>();
  readonly #sinks = new Map<string, SinkRt>();
  readonly #edges: Edge[] = [];
  readonly #abort = new AbortController();
  #error: unknown;
  #failed = false;
  #failResolve!: () => void;
  readonly #failPromise: Promise<void>;
  #paused = false;
  #opened = false;
  #started = false;
  #stopRequested = false;
  #stopping = false;
  #readersWaiting = 0;
  #growTimer: ReturnType<typeof setTimeout> | undefined;
  // checkpoints
  readonly #checkpointing: boolean;
  #store: StateStore | undefined;
  #ownStore = false;
  #component: CheckpointComponent | undefined;
  #stateName = "pipeline";
  #lastK = 0;
  #outstanding = false;
  #due = false;
  readonly #pending = new Map<number, Pending>();
  readonly #endSnaps = new Map<string, NodeSnapshot>();
  #commitChain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #everyItems: number;
  #finalCommitted = false;

  /** @internal Use `Pipeline.run`. */
  constructor(
    plan: RunPlan,
    inputs: Record<string, SourceInput>,
    options: RunOptions,
  ) {
    checkPlan(plan);
    this.#plan = plan;
    this.#logger = options.logger ?? plan.logger;
    this.#failPromise = new Promise<void>((resolve) => (this.#failResolve = resolve));
    this.#checkpointing = options.store !== undefined;
    this.#everyItems = options.checkpointEvery?.items ?? 0;
    this.resumedFrom = undefined;
    const grow: GrowPolicy = {
      canGrow: () => this.#readersWaiting > 0,
      readerWaiting: (d) => {
        this.#readersWaiting += d;
        if (d > 0) { for (const s of this.#sinks.values()) s.edge.wakeProducer(); }
      },
      grew: (edge) => this.log({ type: "sink-grow", sink: edge.name, capacity: edge.cap }),
    };
    // Build runtime nodes in topological order, edges from each input.
    for (const name of plan.order) {
      const def = plan.nodes.get(name)!;
      const rt: NodeRt = {
        def,
        ins: [],
        outs: [],
        outputs: 0,
        read: 0,
        dead: 0,
        zipDead: 0,
        state: undefined,
        copier: new StateCopier(),
        fused: false,
      };
      const only = def.inputs.length === 1 ? def.inputs[0]! : undefined;
      if (
        plan.fuse && only !== undefined && plan.outputsOf(only).length === 1 &&
        (def.kind === "fn" || def.kind === "state" || def.kind === "chain") &&
        def.consume === 1 && def.produce === 1 && def.spawn === 1
      ) {
        // Operator chaining: the only reader of its only input runs inside the input's task.
        rt.fused = true;
        this.#nodes.get(only)!.outs.push(this.#fusedTarget(rt));
      } else {
        for (const input of def.inputs) {
          const e = new Edge(`${input}->${name}`, plan.buffer);
          this.#edges.push(e);
          rt.ins.push(e);
          this.#nodes.get(input)!.outs.push(e);
        }
      }
      this.#nodes.set(name, rt);
      if (def.kind === "source") {
        const src: SourceRt = {
          name,
          outs: rt.outs,
          position: 0,
          ended: false,
          barriers: [],
          woke: false,
          waiter: undefined,
          wake: () => {
            src.woke = true;
            const w = src.waiter;
            src.waiter = undefined;
            w?.();
          },
          sinceBarrier: 0,
          barrierAt: 0,
        };
        this.#sources.set(name, src);
      }
    }
    for (const name of plan.sinks) {
      const nodeGrow: GrowPolicy = {
        canGrow: () => {
          if (!grow.canGrow()) return false;
          // Another sink's reader waits. Grow when this sink has no reader (it is read later:
          // the wrong-order case), or its reader has not pulled for a while (it may be blocked
          // on the other sink); a sink whose reader keeps pulling stays bounded.
          const sink = this.#sinks.get(name)!;
          if (!sink.reading) return true;
          if (performance.now() - sink.lastPull >= AWAY_MS) return true;
          this.#armGrowTimer();
          return false;
        },
        readerWaiting: (d) => {
          if (!this.#sinks.get(name)!.managed) grow.readerWaiting(d);
        },
        grew: grow.grew,
      };
      const edge = new Edge(name, plan.sinkBuffer, nodeGrow);
      this.#edges.push(edge);
      this.#nodes.get(name)!.outs.push(edge);
      let endResolve!: () => void;
      const endPromise = new Promise<void>((r) => (endResolve = r));
      const sink: SinkRt = {
        name,
        edge,
        seq: 0,
        ended: false,
        flushed: false,
        managed: false,
        reading: false,
        lastPull: 0,
        endResolve,
        endPromise,
      };
      this.#sinks.set(name, sink);
      this.outputs[name] = {
        [Symbol.asyncIterator]: () => {
          const it = this.#reader(sink, false);
          return {
            async next(): Promise<IteratorResult<unknown>> {
              const r = await it.next();
              return r.done
                ? { done: true, value: undefined }
                : { done: false, value: r.value.value };
            },
            async return(): Promise<IteratorResult<unknown>> {
              await it.return(undefined);
              return { done: true, value: undefined };
            },
          };
        },
      };
    }
    this.done = this.#main(inputs, options);
    this.done.catch(() => {});
  }

  async #main(inputs: Record<string, SourceInput>, options: RunOptions): Promise<void> {
    const signal = options.signal;
    const onAbort = () =>
      this.#fail(
        abortError("run the pipeline", signal!),
      );
    let tasks: Promise<unknown> = Promise.resolve();
    try {
      if (signal?.aborted) onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      await this.#open(options);
      this.#opened = true;
      if (this.#stopRequested) this.#stopNow();
      if (this.#failed) throw this.#error;
      this.log({
        type: "run-start",
        resumed: this.resumedFrom !== undefined,
        checkpoint: this.resumedFrom?.checkpoint,
        positions: this.resumedFrom?.positions,
        deadLetters: this.resumedFrom ? this.#deadBefore : undefined,
        alreadyComplete: this.resumedFrom?.done === true,
      });
      const all: Promise<unknown>[] = [];
      this.#started = true;
      for (const rt of this.#nodes.values()) if (rt.fused) this.#initNode(rt);
      for (const [name, src] of this.#sources) all.push(this.#pump(src, inputs[name]!));
      for (const rt of this.#nodes.values()) {
        if (!rt.fused && rt.def.kind !== "source") all.push(this.#runNode(rt));
      }
      tasks = Promise.all(all);
      const every = options.checkpointEvery?.ms;
      if (this.#checkpointing && every !== undefined) {
        this.#timer = setInterval(() => this.#request(false), every);
      }
      await Promise.race([
        Promise.all([tasks, ...[...this.#sinks.values()].map((s) => s.endPromise)]),
        this.#failPromise,
      ]);
      for (let c = undefined; !this.#failed && c !== this.#commitChain;) {
        c = this.#commitChain;
        await Promise.race([c, this.#failPromise]);
      }
      if (this.#failed) throw this.#error;
      this.log({ type: "run-end", ok: true });
    } catch (error) {
      this.#fail(error);
      this.log({ type: "run-end", ok: false, error: this.#error });
      throw this.#error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (this.#timer !== undefined) clearInterval(this.#timer);
      if (this.#growTimer !== undefined) clearTimeout(this.#growTimer);
      this.#growTimer = undefined;
      if (this.#failed) {
        // A node stuck in a user function that never settles must not hang a failed or aborted
        // run: wait a bounded time for the tasks to notice the failure.
        let t: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([tasks, new Promise((r) => (t = setTimeout(r, FAIL_GRACE_MS)))]);
        clearTimeout(t);
      } else await tasks;
      await this.#commitChain.catch(() => {});
      if (this.#component && this.#store) this.#store.unregister(this.#stateName);
      if (this.#ownStore) await this.#store?.close();
    }
  }

  #armGrowTimer(): void {
    if (this.#growTimer !== undefined || this.#failed) return;
    this.#growTimer = setTimeout(() => {
      this.#growTimer = undefined;
      for (const s of this.#sinks.values()) s.edge.wakeProducer();
    }, AWAY_MS);
  }

  /** Whether sources are paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Stop pulling from the sources (in-flight items keep flowing). */
  pause(): void {
    this.#paused = true;
  }

  /** Resume pulling from the sources. */
  resume(): void {
    this.#paused = false;
    for (const s of this.#sources.values()) s.wake();
  }

  /**
   * Drain gracefully: sources stop pulling, items in flight reach the sinks, and with a store a
   * last checkpoint is taken so a later run resumes exactly there. Returns `done`.
   */
  stop(): Promise<void> {
    if (!this.#stopRequested) {
      this.#stopRequested = true;
      // A sink nobody reads would hold the run forever (its items have nowhere to go): it is
      // abandoned and a later reader finds it ended. Its items are not lost: no checkpoint after
      // this point counts them as delivered, so a resume delivers them again.
      for (const s of this.#sinks.values()) {
        if (!s.reading && !s.ended) {
          s.unread = true;
          this.#abandon(s);
        }
      }
      // Before the checkpoint store is loaded, stopping waits for it (checkpoint numbers
      // continue the loaded ones).
      if (this.#opened) this.#stopNow();
    }
    return this.done;
  }

  #stopNow(): void {
    if (this.#stopping || this.#failed) return;
    if (this.#checkpointing) this.#request(true);
    this.#stopping = true;
    for (const s of this.#sources.values()) s.wake();
  }

  /**
   * Wait for `done` at most `timeoutMs`; the run goes on after a timeout.
   * @throws {PipelineTimeoutError} when the time runs out
   */
  async wait(options: { timeoutMs?: number } = {}): Promise<void> {
    const action = "wait for the pipeline";
    const given = optionsOf(action, options, ["timeoutMs"]).timeoutMs;
    if (given === undefined) return await this.done;
    const ms = assertNumber(action, "timeoutMs", given, 0);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.done,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new PipelineTimeoutError(
                  "wait for the pipeline",
                  "it did not finish in time",
                  { received: ms },
                ),
              ),
            ms,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The live state of a stateful node. */
  state<S = unknown>(node: string): S {
    const rt = this.#nodes.get(node);
    if (rt === undefined || rt.def.kind !== "state") {
      throw new InvalidArgumentError("get node state", "no stateful node has this name", {
        received: node,
      });
    }
    return rt.state as S;
  }

  /** The sink's outputs with their sequence numbers (read a sink through one form only). */
  entries(sink: string): AsyncIterable<SinkEntry> {
    const s = this.#sinks.get(sink);
    if (s === undefined) {
      throw new InvalidArgumentError("read a sink", "no sink has this name", { received: sink });
    }
    return { [Symbol.asyncIterator]: () => this.#reader(s, false) };
  }

  /** @internal Drain a sink through `fn` (bounded: the run-to-completion form). */
  async consume(
    sink: string,
    fn?: (item: unknown, info: { seq: number }) => unknown,
    keep?: unknown[],
  ) {
    const action = "read a sink";
    const s = this.#sinks.get(sink);
    if (s === undefined) {
      throw new InvalidArgumentError(action, "no sink has this name", { received: sink });
    }
    optionalFunction(action, "fn", fn);
    if (keep !== undefined && !Array.isArray(keep)) {
      throw new InvalidArgumentError(action, "keep must be an array", { received: keep });
    }
    if (s.reading) {
      throw new InvalidArgumentError("read a sink", "the sink is already being read", {
        received: s.name,
      });
    }
    s.reading = true;
    s.managed = true;
    if (s.ended) return; // abandoned by stop() before anyone read it
    const node = this.#nodes.get(sink)!;
    const at = node.outs.indexOf(s.edge);
    if (this.#plan.fuse && !this.#started && at >= 0) {
      // Fuse the consumer into the sink node's task: no hand-off per item.
      node.outs[at] = this.#consumerTarget(s, fn, keep);
      await Promise.race([s.endPromise, this.#failPromise]);
      if (this.#failed) throw this.#error;
      return;
    }
    try {
      for (;;) {
        if (turnDue()) await giveTurn();
        const m = s.edge.tryPull() ?? await s.edge.pull();
        s.lastPull = performance.now();
        if (m.t === ITEM) {
          const seq = s.seq++;
          if (fn) {
            const r = fn(m.v, { seq });
            if (r instanceof Promise) await r;
          }
          keep?.push(m.v);
        } else if (m.t === HOLE) s.seq++;
        else if (m.t === BARRIER) this.#ack(s.name, m.k, s.seq);
        else {
          this.#sinkEnded(s, m.flush);
          return;
        }
      }
    } catch (e) {
      if (e instanceof Cancelled) throw e.reason;
      this.#fail(e);
      throw e;
    }
  }

  #consumerTarget(
    s: SinkRt,
    fn: ((item: unknown, info: { seq: number }) => unknown) | undefined,
    keep: unknown[] | undefined,
  ): Target {
    let pending: Promise<void> | undefined;
    const failed = (e: unknown): never => {
      if (e instanceof Cancelled) throw e;
      this.#fail(e);
      throw new Cancelled(e);
    };
    const process = (m: Msg): Promise<void> | undefined => {
      if (m.t === ITEM) {
        const seq = s.seq++;
        keep?.push(m.v);
        if (fn === undefined) return undefined;
        let r: unknown;
        try {
          r = fn(m.v, { seq });
        } catch (e) {
          return failed(e);
        }
        if (r instanceof Promise) return r.then(() => {}, failed);
        return undefined;
      }
      if (m.t === HOLE) s.seq++;
      else if (m.t === BARRIER) this.#ack(s.name, m.k, s.seq);
      else this.#sinkEnded(s, m.flush);
      return undefined;
    };
    return {
      tryPush: (m) => {
        if (this.#failed) throw new Cancelled(this.#error);
        const p = process(m);
        if (p === undefined) return true;
        pending = p;
        return false;
      },
      push: async () => {
        const p = pending;
        pending = undefined;
        await p;
      },
    };
  }

  /** @internal */
  log(event: PipelineEvent): void {
    if (this.#logger) {
      try {
        this.#logger(event);
      } catch {
        // A failing logger must not break the run.
      }
    }
  }

  async *#reader(s: SinkRt, managed: boolean): AsyncGenerator<SinkEntry, void, undefined> {
    if (s.reading) {
      throw new InvalidArgumentError("read a sink", "the sink is already being read", {
        received: s.name,
      });
    }
    s.reading = true;
    s.managed = managed;
    if (s.ended) return; // abandoned by stop() before anyone read it
    let finished = false;
    try {
      for (;;) {
        let m: Msg;
        if (turnDue()) await giveTurn();
        try {
          m = s.edge.tryPull() ?? await s.edge.pull();
        } catch (e) {
          throw e instanceof Cancelled ? e.reason : e;
        }
        s.lastPull = performance.now();
        if (m.t === ITEM) yield { value: m.v, seq: s.seq++ };
        else if (m.t === HOLE) s.seq++;
        else if (m.t === BARRIER) this.#ack(s.name, m.k, s.seq);
        else {
          finished = true;
          this.#sinkEnded(s, m.flush);
          return;
        }
      }
    } finally {
      // The reader left early: drop the rest of this sink and stop waiting for it.
      if (!finished && !this.#failed) this.#abandon(s);
    }
  }

  /** Drop the rest of sink `s` (nobody will read it) and stop waiting for it. */
  #abandon(s: SinkRt): void {
    s.edge.discard = true;
    while (s.edge.size > 0) s.edge.tryPull();
    this.#sinkEnded(s, false, true);
  }

  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#error = error;
    this.#abort.abort(error);
    const sinkEdges = new Set([...this.#sinks.values()].map((s) => s.edge));
    for (const e of this.#edges) e.fail(error, sinkEdges.has(e));
    for (const s of this.#sources.values()) s.wake();
    this.#failResolve();
  }

  async #open(options: RunOptions): Promise<void> {
    const store = options.store;
    if (store === undefined) return;
    if (options.stateName !== undefined) this.#stateName = options.stateName;
    if (typeof store === "string") {
      try {
        this.#store = new StateStore(store, { keeper: new LatestStatesKeeper(options.keep ?? 3) });
      } catch (error) {
        throw storeError(error, store);
      }
      this.#ownStore = true;
    } else if (store instanceof StateStore) {
      this.#store = store;
    } else {
      throw new InvalidArgumentError(
        "run the pipeline",
        "store must be a StateStore or a directory",
        { received: store },
      );
    }
    this.#component = this.#store.register(this.#stateName, new CheckpointComponent());
    try {
      await this.#store.load("latest");
    } catch (error) {
      throw storeError(error, this.#store.dir);
    }
    const data = this.#component.loaded;
    if (data === undefined) return;
    for (const name of Object.keys(data.nodes)) {
      if (!this.#nodes.has(name)) {
        throw new CheckpointError(
          "resume the pipeline",
          "the checkpoint names a node this pipeline lacks",
          { received: name },
        );
      }
    }
    this.#lastK = data.checkpoint;
    for (const [name, rt] of this.#nodes) {
      rt.restored = data.nodes[name];
      rt.outputs = rt.restored?.outputs ?? 0;
      rt.read = rt.restored?.read ?? 0;
      rt.dead = rt.restored?.dead ?? 0;
      this.#deadBefore += rt.dead;
    }
    for (const [name, src] of this.#sources) {
      src.position = src.barrierAt = data.positions[name] ?? 0;
    }
    for (const [name, s] of this.#sinks) s.seq = data.sinks[name] ?? 0;
    (this as { resumedFrom: unknown }).resumedFrom = {
      checkpoint: data.checkpoint,
      positions: { ...data.positions },
      done: data.done,
    };
  }

  // ---- checkpoints ----

  #request(force: boolean): void {
    if (
      !this.#checkpointing || this.#failed || this.#stopping || this.#finalCommitted ||
      this.resumedFrom?.done
    ) return;
    if ([...this.#sources.values()].every((src) => src.ended)) return;
    // Nothing read since the last barrier (a paused or idle run): the checkpoint would be the
    // same as the last one (or the one resumed from), so none is taken.
    if (!force && [...this.#sources.values()].every((src) => src.position === src.barrierAt)) {
      return;
    }
    if (this.#outstanding && !force) {
      this.#due = true;
      return;
    }
    this.#due = false;
    this.#outstanding = true;
    const k = ++this.#lastK;
    const p: Pending = { k, positions: {}, nodes: {}, sinks: {}, buffers: [] };
    this.#pending.set(k, p);
    for (const src of this.#sources.values()) {
      if (src.ended) {
        p.positions[src.name] = src.position;
        src.barrierAt = src.position;
      } else {
        src.barriers.push(k);
        src.wake();
      }
    }
    for (const s of this.#sinks.values()) if (s.ended && !s.unread) p.sinks[s.name] = s.seq;
    this.#maybeCommit();
  }

  #capture(rt: NodeRt, k: number, extra: Omit<NodeSnapshot, "outputs">): void {
    const p = this.#pending.get(k);
    if (p === undefined) return;
    const snap: NodeSnapshot = {
      outputs: rt.outputs,
      read: rt.read,
      dead: rt.dead + rt.zipDead,
      ...extra,
    };
    if (rt.def.kind === "state") {
      snap.hasState = true;
      const used: NumericArray[] = [];
      snap.state = rt.copier.copy(rt.state, used);
      if (used.length > 0) p.buffers.push({ copier: rt.copier, used });
    }
    p.nodes[rt.def.name] = snap;
  }

  #endSnapshot(rt: NodeRt, extra: Omit<NodeSnapshot, "outputs">): void {
    if (!this.#checkpointing) return;
    const snap: NodeSnapshot = {
      outputs: rt.outputs,
      read: rt.read,
      dead: rt.dead + rt.zipDead,
      ...extra,
    };
    if (rt.def.kind === "state") {
      // The node has finished: its state no longer changes, so no copy is needed.
      snap.hasState = true;
      snap.state = rt.state;
    }
    this.#endSnaps.set(rt.def.name, snap);
  }

  #ack(sink: string, k: number, seq: number): void {
    const p = this.#pending.get(k);
    if (p === undefined) return;
    p.sinks[sink] = seq;
    this.#maybeCommit();
  }

  #sinkEnded(s: SinkRt, flush: boolean, abandoned = false): void {
    if (s.ended) return;
    s.ended = true;
    s.flushed = flush && !abandoned;
    // An unread sink leaves its pending checkpoints incomplete: they never commit.
    if (!s.unread) { for (const p of this.#pending.values()) p.sinks[s.name] ??= s.seq; }
    this.#maybeCommit();
    s.endResolve();
  }

  #maybeCommit(): void {
    if (!this.#checkpointing || this.#failed) return;
    const sinks = [...this.#sinks.keys()];
    for (const p of [...this.#pending.values()].sort((a, b) => a.k - b.k)) {
      if (!sinks.every((s) => p.sinks[s] !== undefined)) break;
      this.#pending.delete(p.k);
      for (const name of this.#nodes.keys()) {
        if (p.nodes[name] === undefined) {
          const end = this.#endSnaps.get(name);
          if (end) p.nodes[name] = end;
        }
      }
      for (const src of this.#sources.values()) p.positions[src.name] ??= src.position;
      this.#commit(
        {
          checkpoint: p.k,
          positions: p.positions,
          sinks: p.sinks,
          nodes: p.nodes,
          done: false,
        },
        p.k === this.#lastK,
        p.buffers,
      );
    }
    const all = [...this.#sinks.values()];
    if (
      !this.#finalCommitted && this.#pending.size === 0 && all.every((s) => s.ended && s.flushed) &&
      [...this.#sources.values()].every((s) => s.ended)
    ) {
      this.#finalCommitted = true;
      // A job that was complete already keeps its final snapshot (no new one per re-run).
      if (this.resumedFrom?.done) return;
      const nodes: Record<string, NodeSnapshot> = {};
      for (const [name, snap] of this.#endSnaps) nodes[name] = snap;
      const positions: Record<string, number> = {};
      for (const src of this.#sources.values()) positions[src.name] = src.position;
      const seqs: Record<string, number> = {};
      for (const s of all) seqs[s.name] = s.seq;
      this.#commit({
        checkpoint: ++this.#lastK,
        positions,
        sinks: seqs,
        nodes,
        done: true,
      }, true);
    }
  }

  #commit(data: CheckpointData, last: boolean, buffers: Pending["buffers"] = []): void {
    this.#commitChain = this.#commitChain.then(async () => {
      if (this.#failed) return;
      this.#component!.current = data;
      try {
        checkCheckpoint(data);
        // Prompt turns: the save's file operations complete while the items keep flowing.
        const path = await promptTurns(() =>
          this.#store!.save({
            meta: {
              pipeline: { checkpoint: data.checkpoint, positions: data.positions, done: data.done },
            },
          })
        );
        this.log({
          type: "checkpoint",
          checkpoint: data.checkpoint,
          path,
          positions: data.positions,
          done: data.done,
        });
      } catch (error) {
        this.#fail(
          error instanceof SpoolError ? error : new CheckpointError(
            "save the checkpoint",
            `the store could not write it (${
              error instanceof Error ? `${error.name}: ${error.message}` : String(error)
            })`,
            { received: this.#store!.dir, cause: error },
          ),
        );
      } finally {
        this.#component!.current = undefined;
        for (const b of buffers) b.copier.release(b.used);
        if (last) {
          this.#outstanding = false;
          if (this.#due) this.#request(false);
        }
      }
    });
  }

  // ---- sources ----

  /** Push `m` to every output; `undefined` when done without waiting, else a promise. */
  #emit(outs: Target[], m: Msg): Promise<void> | undefined {
    for (let i = 0; i < outs.length; i++) {
      if (!outs[i]!.tryPush(m)) return this.#emitSlow(outs, m, i);
    }
    return undefined;
  }

  async #emitSlow(outs: Target[], m: Msg, from: number): Promise<void> {
    await outs[from]!.push(m);
    for (let i = from + 1; i < outs.length; i++) {
      const e = outs[i]!;
      if (!e.tryPush(m)) await e.push(m);
    }
  }

  /** Wait for `wake()` or, when given, the pending pull (no reaction piles up on a
   * long-lived promise: each wait is its own promise). */
  #wait(
    src: SourceRt,
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

  async #pump(src: SourceRt, input: SourceInput): Promise<void> {
    const rt = this.#nodes.get(src.name)!;
    this.log({ type: "node-start", node: src.name });
    let syncIt: Iterator<unknown> | undefined;
    let asyncIt: AsyncIterator<unknown> | undefined;
    let nextP: Promise<IteratorResult<unknown>> | undefined;
    const ctl = new AbortController();
    try {
      if (this.resumedFrom?.done) {
        src.ended = true;
        await this.#emit(src.outs, { t: END, flush: true });
        return;
      }
      const iterable = typeof input === "function"
        ? input(src.position, { signal: ctl.signal })
        : input;
      const action = `read source ${JSON.stringify(src.name)}`;
      if (iterable === null || (typeof iterable !== "object" && typeof iterable !== "function")) {
        throw new InvalidArgumentError(
          action,
          "a source must be an iterable, an async iterable, or a function (position) => iterable",
          { received: iterable },
        );
      }
      // The stream area's one rule (strings refused, iterator methods must be functions, a
      // next() that gives a non-object is an error as in `for await`).
      const opened = openSource<unknown>(action, iterable);
      syncIt = opened.sync;
      asyncIt = opened.async;
      if (typeof input !== "function") {
        for (let i = 0; i < src.position; i++) {
          const r = resultOf(action, syncIt ? syncIt.next() : await nextOf(asyncIt!));
          if (r.done) break;
          if (turnDue()) await giveTurn();
        }
      }
      for (;;) {
        if (this.#failed) return;
        if (src.barriers.length > 0) {
          const k = src.barriers.shift()!;
          const p = this.#pending.get(k);
          if (p) p.positions[src.name] = src.position;
          src.barrierAt = src.position;
          src.sinceBarrier = 0;
          await this.#emit(src.outs, { t: BARRIER, k });
          continue;
        }
        if (this.#stopping) {
          src.ended = true;
          await this.#emit(src.outs, { t: END, flush: !this.#checkpointing });
          return;
        }
        if (this.#paused) {
          await this.#wait(src);
          continue;
        }
        let r: IteratorResult<unknown>;
        if (syncIt) r = resultOf(action, syncIt.next());
        else {
          nextP ??= nextOf(asyncIt!);
          const got = await this.#wait(src, nextP);
          if (got === WOKEN) continue;
          nextP = undefined;
          r = resultOf(action, got);
        }
        if (r.done) {
          src.ended = true;
          syncIt = asyncIt = undefined;
          for (const k of src.barriers.splice(0)) {
            const p = this.#pending.get(k);
            if (p) p.positions[src.name] = src.position;
          }
          await this.#emit(src.outs, { t: END, flush: true });
          return;
        }
        src.position++;
        rt.outputs++;
        const m: Msg = { t: ITEM, v: r.value };
        const outs = src.outs;
        for (let i = 0; i < outs.length; i++) {
          const e = outs[i]!;
          if (!e.tryPush(m)) await e.push(m);
        }
        if (this.#everyItems > 0 && ++src.sinceBarrier >= this.#everyItems) this.#request(false);
        // One check per source item covers the nodes fused into this task (and gives the
        // other tasks, timers, signals and a checkpoint's file writes their turn).
        if (turnDue()) await giveTurn();
      }
    } catch (error) {
      if (!(error instanceof Cancelled)) this.#fail(error);
    } finally {
      ctl.abort();
      if (this.#failed || src.ended) {
        let ret: unknown;
        try {
          syncIt?.return?.();
          ret = asyncIt?.return?.();
        } catch {
          // ignore errors of return()
        }
        if (this.#failed) {
          // Let the source's step in flight and its return() settle before this task ends, so
          // nothing it started (a timer, a read) outlives `done`; `#main` bounds this wait
          // for a source that never settles.
          await Promise.allSettled([nextP, ret]);
        } else {
          nextP?.catch(() => {});
          (ret as Promise<unknown> | undefined)?.catch?.(() => {});
        }
      }
      this.log({ type: "node-end", node: src.name, outputs: rt.outputs });
    }
  }

  // ---- nodes ----

  #initNode(rt: NodeRt): void {
    if (rt.def.kind === "state") {
      rt.state = rt.restored?.hasState ? rt.restored.state : copyState(rt.def.initial);
    }
    if (rt.fused) this.log({ type: "node-start", node: rt.def.name });
  }

  /**
   * A node fused into its upstream's task: `tryPush` processes the message at once and returns
   * whether that finished synchronously; if not, `push` (called next by `#emit`) awaits it.
   */
  #fusedTarget(rt: NodeRt): Target {
    const call = this.#caller(rt);
    let pending: Promise<void> | undefined;
    const afterCall = async (input: unknown, p: Promise<unknown>, at: number) => {
      let ok = true;
      let v: unknown;
      try {
        v = await p;
      } catch (error) {
        ok = false;
        v = error;
      }
      await this.#result(rt, input, ok, v, at);
    };
    const process = (m: Msg): Promise<void> | undefined => {
      if (m.t === ITEM) {
        const at = rt.read++;
        let v: unknown;
        try {
          v = call(m.v);
        } catch (error) {
          return this.#result(rt, m.v, false, error, at);
        }
        if (v instanceof Promise) return afterCall(m.v, v, at);
        return this.#result(rt, m.v, true, v, at);
      }
      if (m.t === HOLE) {
        rt.read++;
        rt.outputs++;
        return this.#emit(rt.outs, HOLE_MSG);
      }
      if (m.t === BARRIER) {
        this.#capture(rt, m.k, {});
        return this.#emit(rt.outs, m);
      }
      if (m.flush) this.#endSnapshot(rt, {});
      this.log({ type: "node-end", node: rt.def.name, outputs: rt.outputs });
      return this.#emit(rt.outs, m);
    };
    return {
      tryPush: (m) => {
        const p = process(m);
        if (p === undefined) return true;
        pending = p;
        return false;
      },
      push: async () => {
        const p = pending;
        pending = undefined;
        await p;
      },
    };
  }

  async #runNode(rt: NodeRt): Promise<void> {
    const def = rt.def;
    this.log({ type: "node-start", node: def.name });
    try {
      this.#initNode(rt);
      if (def.kind === "pool") await this.#poolNode(rt);
      else await this.#fnNode(rt);
      this.log({ type: "node-end", node: def.name, outputs: rt.outputs });
    } catch (error) {
      if (error instanceof Cancelled) return;
      this.#fail(error);
    }
  }

  /**
   * Emit a result (split by `produce`) or, for a failure, apply the error policy. `position` and
   * `count`: the input slots of the call (for dead letters and errors).
   */
  #result(
    rt: NodeRt,
    input: unknown,
    ok: boolean,
    value: unknown,
    position: number,
    count = 1,
    layout?: unknown[],
  ): Promise<void> | undefined {
    if (ok && rt.def.produce === 1) {
      rt.outputs++;
      return this.#emit(rt.outs, { t: ITEM, v: value });
    }
    return this.#resultSlow(rt, input, ok, value, position, count, layout);
  }

  async #resultSlow(
    rt: NodeRt,
    input: unknown,
    ok: boolean,
    value: unknown,
    position: number,
    count: number,
    layout: unknown[] | undefined,
  ): Promise<void> {
    const def = rt.def;
    if (ok && def.produce > 1 && !def.repeat) {
      if (
        layout !== undefined && def.produce === def.consume && Array.isArray(value) &&
        value.length === (input as unknown[]).length && value.length !== def.produce
      ) {
        // A short group (holes left out, or the last group) with one output per input: each
        // result takes its input's slot, holes fill the others (positions stay aligned).
        let j = 0;
        for (let i = 0; i < def.produce; i++) {
          const good = i < layout.length && layout[i] !== HOLE_VALUE;
          rt.outputs++;
          await this.#emit(rt.outs, good ? { t: ITEM, v: value[j++] } : HOLE_MSG);
        }
        return;
      }
      if (!Array.isArray(value) || value.length !== def.produce) {
        ok = false;
        value = new InvalidArgumentError(
          `split the result of node ${JSON.stringify(def.name)}`,
          `with produce: ${def.produce} the function must return an array of ${def.produce} items`,
          { received: value },
        );
      }
    }
    if (!ok) {
      this.log({
        type: "node-error",
        node: def.name,
        position,
        item: input,
        error: value,
        policy: def.errors,
      });
      if (def.errors === "fail") {
        this.#fail(new NodeError(def.name, input, value, position));
        throw new Cancelled(this.#error);
      }
      rt.dead++;
      this.deadLetters.push({ node: def.name, position, count, item: input, error: value });
      for (let i = 0; i < def.produce; i++) {
        rt.outputs++;
        await this.#emit(rt.outs, HOLE_MSG);
      }
      return;
    }
    if (def.produce === 1) {
      rt.outputs++;
      await this.#emit(rt.outs, { t: ITEM, v: value });
    } else {
      for (let i = 0; i < def.produce; i++) {
        rt.outputs++;
        await this.#emit(rt.outs, { t: ITEM, v: def.repeat ? value : (value as unknown[])[i] });
      }
    }
  }

  /**
   * A fan-in node zipped a hole with good items (`heads`): the good ones cannot be processed
   * (the function needs every input), so they go to the dead letters with a `HoleError` naming
   * the inputs that had the hole. Called before the tuple's slot is counted in `rt.read`.
   */
  #zipHole(rt: NodeRt, heads: (Msg | undefined)[], offset: number): void {
    const def = rt.def;
    if (!heads.some((h) => h?.t === ITEM)) return; // nothing good to report
    const names = (t: typeof HOLE | undefined) => def.inputs.filter((_, i) => heads[i]?.t === t);
    const holes = names(HOLE);
    const ended = names(undefined);
    const list = (ns: string[]) =>
      `input${ns.length > 1 ? "s" : ""} ${ns.map((n) => JSON.stringify(n)).join(", ")}`;
    const why = [
      holes.length > 0 ? `${list(holes)} had no item there (it failed upstream)` : "",
      ended.length > 0 ? `${list(ended)} ended before it` : "",
    ].filter((w) => w !== "").join(" and ");
    const position = rt.read + offset;
    const item = heads.map((h) => (h?.t === ITEM ? h.v : undefined));
    const error = new HoleError(
      `zip the inputs of node ${JSON.stringify(def.name)} at position ${position}`,
      `${why}, so the items of the other inputs cannot be processed`,
      { received: item },
    );
    rt.zipDead++;
    this.log({ type: "node-error", node: def.name, position, item, error, policy: "dead-letter" });
    this.deadLetters.push({ node: def.name, position, count: 1, item, error });
  }

  async #holes(rt: NodeRt): Promise<void> {
    for (let i = 0; i < rt.def.produce; i++) {
      rt.outputs++;
      await this.#emit(rt.outs, HOLE_MSG);
    }
  }

  #caller(rt: NodeRt): (input: unknown) => unknown {
    const def = rt.def;
    const spread = def.inputs.length > 1 && def.consume === 1;
    if (def.kind === "fn") {
      const fn = def.fn!;
      return spread ? (input) => fn(...(input as unknown[])) : fn;
    }
    if (def.kind === "state") {
      const fn = def.fn!;
      return spread
        ? (input) => fn(rt.state, ...(input as unknown[]))
        : (input) => fn(rt.state, input);
    }
    const chain = def.chain!;
    const first = chain[0]!;
    return (input) => {
      let v = spread
        ? first.fn(...(input as unknown[]), ...first.args)
        : first.fn(input, ...first.args);
      for (let i = 1; i < chain.length; i++) {
        const step = chain[i]!;
        v = v instanceof Promise
          ? v.then((x) => step.fn(x, ...step.args))
          : step.fn(v, ...step.args);
      }
      return v;
    };
  }

  /** The reader of a node's inputs, restored from its checkpoint; zip holes are reported. */
  #readerOf(rt: NodeRt): InputReader {
    return new InputReader(
      this,
      rt.def.name,
      rt.ins,
      rt.restored?.pending,
      (heads, offset) => this.#zipHole(rt, heads, offset),
    );
  }

  async #fnNode(rt: NodeRt): Promise<void> {
    const def = rt.def;
    const reader = this.#readerOf(rt);
    const call = this.#caller(rt);
    let group: unknown[] = (rt.restored?.group ?? []).map((s) => (s[0] === 0 ? s[1] : HOLE_VALUE));
    const window: {
      input: unknown;
      p: Promise<{ ok: boolean; v: unknown }> | undefined;
      at: number;
      count: number;
      layout: unknown[] | undefined;
    }[] = [];
    const settle = async (input: unknown): Promise<{ ok: boolean; v: unknown }> => {
      try {
        return { ok: true, v: await call(input) };
      } catch (error) {
        return { ok: false, v: error };
      }
    };
    const flushOne = async () => {
      const head = window.shift()!;
      if (head.p === undefined) return await this.#holes(rt);
      const r = await head.p;
      await this.#result(rt, head.input, r.ok, r.v, head.at, head.count, head.layout);
    };
    const drain = async () => {
      while (window.length > 0) await flushOne();
    };
    const submit = async (
      input: unknown,
      hole: boolean,
      at: number,
      count: number,
      layout?: unknown[],
    ) => {
      if (def.spawn === 1) {
        if (hole) return await this.#holes(rt);
        let ok = true;
        let v: unknown;
        try {
          v = call(input);
          if (v instanceof Promise) v = await v;
        } catch (error) {
          ok = false;
          v = error;
        }
        return await this.#result(rt, input, ok, v, at, count, layout);
      }
      window.push({ input, p: hole ? undefined : settle(input), at, count, layout });
      if (window.length >= def.spawn) await flushOne();
    };
    const submitGroup = async () => {
      // A group spans `consume` input slots; the function gets the good items only (a hole
      // never takes its neighbours with it). A group of holes only is a hole.
      const g = group;
      group = [];
      const good = goodOf(g);
      const short = good !== g || g.length < def.consume;
      await submit(good, good.length === 0, rt.read - g.length, g.length, short ? g : undefined);
    };
    const fast = def.consume === 1 && def.spawn === 1;
    for (;;) {
      if (turnDue()) await giveTurn();
      const m = reader.poll() ?? await reader.next();
      if (fast && m.t === ITEM) {
        const at = rt.read++;
        let ok = true;
        let v: unknown;
        try {
          v = call(m.v);
          if (v instanceof Promise) v = await v;
        } catch (error) {
          ok = false;
          v = error;
        }
        const p = this.#result(rt, m.v, ok, v, at);
        if (p) await p;
        continue;
      }
      if (m.t === ITEM) {
        const at = rt.read++;
        if (def.consume === 1) await submit(m.v, false, at, 1);
        else {
          group.push(m.v);
          if (group.length === def.consume) await submitGroup();
        }
      } else if (m.t === HOLE) {
        const at = rt.read++;
        if (def.consume === 1) await submit(undefined, true, at, 1);
        else {
          group.push(HOLE_VALUE);
          if (group.length === def.consume) await submitGroup();
        }
      } else if (m.t === BARRIER) {
        await drain();
        this.#capture(rt, m.k, { group: groupSlots(group), pending: reader.snapshot() });
        await this.#emit(rt.outs, m);
      } else {
        if (m.flush && group.length > 0) await submitGroup();
        await drain();
        if (m.flush) {
          this.#endSnapshot(rt, { group: groupSlots(group), pending: reader.snapshot() });
        }
        await this.#emit(rt.outs, m);
        return;
      }
    }
  }

  async #poolNode(rt: NodeRt): Promise<void> {
    const def = rt.def;
    const reader = this.#readerOf(rt);
    // The feeder reads ahead of the results: a barrier's entry records the input slots read and
    // the zip dead letters up to it, so the capture matches the outputs before it.
    type Capture = { group: Slot[]; pending: Slot[][] | undefined; read: number; dead: number };
    type Entry =
      | { t: typeof ITEM; input: unknown }
      | { t: typeof HOLE }
      | ({ t: typeof BARRIER; k: number } & Capture)
      | ({ t: typeof END; flush: boolean } & Capture);
    const fifo: Entry[] = [];
    let fifoHead = 0;
    let signal: (() => void) | undefined;
    const push = (e: Entry) => {
      fifo.push(e);
      const s = signal;
      signal = undefined;
      s?.();
    };
    let group: unknown[] = (rt.restored?.group ?? []).map((s) => (s[0] === 0 ? s[1] : HOLE_VALUE));
    const ordered = this.#checkpointing ? true : def.ordered;
    // Inputs by map index, kept for dead letters and errors: a FIFO when the map is ordered
    // (results come in index order), else a map (results come in completion order).
    // Each input's first slot position and slot count ride along (for dead letters/errors).
    const inputs = ordered ? undefined : new Map<number, [unknown, number, number]>();
    let inputQ: unknown[] = [];
    let posQ: number[] = [];
    let cntQ: number[] = [];
    let qHead = 0;
    let due = 0;
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
      if (index !== due) {
        throw new SpoolError(
          "run a pool node",
          `the ordered pool map yielded result ${index} where ${due} was due`,
        );
      }
      due++;
      const v = inputQ[qHead];
      takenAt = posQ[qHead]!;
      takenCount = cntQ[qHead]!;
      inputQ[qHead++] = undefined;
      if (qHead >= 1024 && qHead * 2 >= inputQ.length) {
        inputQ = inputQ.slice(qHead);
        posQ = posQ.slice(qHead);
        cntQ = cntQ.slice(qHead);
        qHead = 0;
      }
      return v;
    };
    const ITEM_ENTRY: Entry = { t: ITEM, input: undefined };
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
        inputQ.push(v);
        posQ.push(at);
        cntQ.push(count);
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
      push({ t: END, flush, ...capture() });
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
      push({ t: HOLE });
      return undefined;
    };
    /** What to return for message `m`, or `undefined` to read on. */
    const handle = (m: Msg): IteratorResult<unknown> | undefined => {
      if (m.t === ITEM || m.t === HOLE) {
        const at = rt.read++;
        if (def.consume === 1) {
          if (m.t === HOLE) {
            push({ t: HOLE });
            return undefined;
          }
          return yieldItem(m.v, at, 1);
        }
        group.push(m.t === ITEM ? m.v : HOLE_VALUE);
        if (group.length === def.consume) return groupDone();
        return undefined;
      }
      if (m.t === BARRIER) {
        push({ t: BARRIER, k: m.k, ...capture() });
        return undefined;
      }
      if (m.flush && group.length > 0) {
        const r = groupDone();
        if (r !== undefined) {
          endAfter = { flush: m.flush };
          return r;
        }
      }
      return pushEnd(m.flush);
    };
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
      signal: this.#abort.signal,
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
        while (fifoHead < fifo.length && fifo[fifoHead]!.t !== ITEM) {
          const e = fifo[fifoHead]!;
          fifo[fifoHead++] = undefined as unknown as Entry;
          if (e.t === HOLE) await this.#holes(rt);
          else if (e.t === BARRIER) {
            this.#capture(rt, e.k, {
              group: e.group,
              pending: e.pending,
              read: e.read,
              dead: rt.dead + e.dead,
            });
            await this.#emit(rt.outs, { t: BARRIER, k: e.k });
          } else if (e.t === END) {
            if (e.flush) {
              this.#endSnapshot(rt, {
                group: e.group,
                pending: e.pending,
                read: e.read,
                dead: rt.dead + e.dead,
              });
            }
            await this.#emit(rt.outs, { t: END, flush: e.flush });
            finished = true;
            return;
          }
        }
        if (fifoHead > 4096) {
          fifo.splice(0, fifoHead);
          fifoHead = 0;
        }
        if (fifoHead < fifo.length) {
          if (turnDue()) await giveTurn();
          const r = await nextResult();
          nextP = undefined;
          if (r.done) {
            throw new SpoolError("run a pool node", "the pool map ended before its inputs");
          }
          fifo[fifoHead++] = undefined as unknown as Entry;
          const settled = r.value;
          const input = takeInput(settled.index);
          const p = this.#result(
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
        if (this.#failed) throw new Cancelled(this.#error);
      }
    } catch (error) {
      if (this.#failed) throw new Cancelled(this.#error);
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
            this.#fail(
              new SpoolError("run a pool node", "the pool map yielded more results than inputs"),
            );
          }
        } else await nextP.catch(() => {});
      }
    }
  }
}
