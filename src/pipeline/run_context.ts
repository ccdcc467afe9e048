/**
 * The internal state of one pipeline run, shared by its collaborators (source pumps, node tasks,
 * sinks, the barrier coordinator): the runtime records of nodes, sources and sinks, the edges,
 * the run's failure, and run control flags. `PipelineRun` is the public facade over it.
 *
 * @module
 */

import type { Edge, Target } from "./edge.ts";
import type { NodeSnapshot, StateCopier } from "./checkpoint_codec.ts";
import type { ResolvedNode } from "./spec.ts";
import type { DeadLetter, PipelineEvent, RunPlan } from "./run_types.ts";

/** A node of the run: its definition, its edges and the counts its checkpoint records. */
export interface NodeRuntime {
  def: ResolvedNode;
  /** The edges it reads, one per declared input (none when fused into its input's task). */
  inputs: Edge[];
  /** Where its messages go: edges, fused nodes, a fused sink consumer. */
  targets: Target[];
  /** Runs inside its only input's task (operator chaining). */
  fused: boolean;
  /** Items and holes emitted. */
  outputs: number;
  /** Input slots taken (items and holes; zipped tuples for several inputs). */
  read: number;
  /** Dead letters of failed calls (this run and, restored, the earlier ones). */
  dead: number;
  /** Dead letters of zips that met a hole (counted where the reader takes the tuple). */
  zipDead: number;
  /** A stateful node's live state. */
  state: unknown;
  /** What the checkpoint resumed from recorded for it. */
  restored?: NodeSnapshot;
  /** Copies its state at barriers (reusing typed-array buffers). */
  copier: StateCopier;
}

/** A source of the run: where it is, and the barriers it was asked to inject. */
export class SourceRuntime {
  readonly name: string;
  readonly targets: Target[];
  /** Items read (the position a resume starts at). */
  position = 0;
  ended = false;
  /** Checkpoints whose barrier this source has yet to inject. */
  readonly barriers: number[] = [];
  /** Set by `wake()`, cleared when the pump re-checks its state. */
  woke = false;
  /** The pump's wait in progress, if any. */
  waiter: (() => void) | undefined;
  /** Items read since its last barrier (for `checkpointEvery.items`). */
  sinceBarrier = 0;
  /** The position of the last barrier injected (or resumed from). */
  barrierAt = 0;

  constructor(name: string, targets: Target[]) {
    this.name = name;
    this.targets = targets;
  }

  /** Make the pump re-check run control (pause, stop, failure, a barrier to inject). */
  wake(): void {
    this.woke = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

/**
 * A sink as the run's context and its checkpoints see it (`SinkRuntime` in `sinks.ts`
 * implements it).
 */
export interface SinkView {
  readonly name: string;
  /** Its buffer (fails with the run, its items kept for the reader). */
  readonly edge: Edge;
  /** The next output's sequence number (a resume sets it from the checkpoint). */
  seq: number;
  readonly ended: boolean;
  /** Ended by its source's exhaustion (not by a stop or an abandoned reader). */
  readonly flushed: boolean;
  /** Abandoned by `stop()` before anyone read it (no checkpoint counts its items). */
  readonly unread: boolean;
}

/** The run's sinks, by name (`SinkSet` in `sinks.ts` implements it). */
export interface SinkRegistry {
  readonly byName: ReadonlyMap<string, SinkView>;
}

/**
 * What a run's tasks (source pumps, nodes, sinks) ask of its checkpoints
 * (`BarrierCoordinator` in `barriers.ts` implements it).
 */
export interface CheckpointPort {
  /** Whether the run has a store (else every call is a no-op). */
  readonly checkpointing: boolean;
  /** A source asks for a checkpoint after this many items (0: never). */
  readonly everyItems: number;
  /** Ask the sources to inject the barrier of a new checkpoint. */
  request(force: boolean): void;
  /** Record node `rt` at the barrier of checkpoint `k`. */
  capture(rt: NodeRuntime, k: number, extra: Omit<NodeSnapshot, "outputs">): void;
  /** Record node `rt` at its end. */
  endSnapshot(rt: NodeRuntime, extra: Omit<NodeSnapshot, "outputs">): void;
  /** Source `src` injects the barrier of checkpoint `k` now (or ended before it could). */
  sourcePassed(src: SourceRuntime, k: number): void;
  /** The barrier of checkpoint `k` reached sink `sink`, after `seq` outputs. */
  ack(sink: string, k: number, seq: number): void;
  /** Sink `sink` ended: no open checkpoint waits for it any more. */
  sinkEnded(sink: SinkView): void;
}

/** Where a run resumed from. */
export interface ResumedFrom {
  checkpoint: number;
  positions: Record<string, number>;
  done: boolean;
}

/** The state of one run, shared by the files of `src/pipeline/` that execute it. */
export class RunContext {
  readonly plan: RunPlan;
  readonly #logger: ((event: PipelineEvent) => void) | undefined;
  readonly nodes = new Map<string, NodeRuntime>();
  readonly sources = new Map<string, SourceRuntime>();
  /** Every edge, sink buffers included (all fail with the run). */
  readonly edges: Edge[] = [];
  /** Aborted when the run fails (pool maps, source factories). */
  readonly abort = new AbortController();
  /** This run's dead letters (`PipelineRun.deadLetters`). */
  readonly deadLetters: DeadLetter[] = [];
  /** Dead letters of the earlier runs, up to the checkpoint resumed from. */
  deadBefore = 0;
  resumedFrom: ResumedFrom | undefined;
  /** The run's error, once `failed`. */
  error: unknown;
  failed = false;
  /** Resolves when the run fails. */
  readonly failure: Promise<void>;
  #failed!: () => void;
  paused = false;
  /** The checkpoint store was opened (checkpoint numbers continue the loaded ones). */
  opened = false;
  /** The tasks were started (a sink consumer can no longer be fused). */
  started = false;
  stopRequested = false;
  /** The sources were told to stop. */
  stopping = false;
  /** The run's checkpoints: set once by the facade, right after construction. */
  barriers!: CheckpointPort;
  /** The run's sinks: set once by the facade, right after construction. */
  sinks!: SinkRegistry;

  constructor(plan: RunPlan, logger: ((event: PipelineEvent) => void) | undefined) {
    this.plan = plan;
    this.#logger = logger;
    this.failure = new Promise<void>((resolve) => (this.#failed = resolve));
  }

  /** Report a structured event (a failing logger does not break the run). */
  log(event: PipelineEvent): void {
    if (this.#logger) {
      try {
        this.#logger(event);
      } catch {
        // A failing logger must not break the run.
      }
    }
  }

  /** Fail the run (the first error wins): every edge and waiter is woken with it. */
  fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.error = error;
    this.abort.abort(error);
    const sinkEdges = new Set([...this.sinks.byName.values()].map((s) => s.edge));
    for (const e of this.edges) e.fail(error, sinkEdges.has(e));
    for (const s of this.sources.values()) s.wake();
    this.#failed();
  }
}
