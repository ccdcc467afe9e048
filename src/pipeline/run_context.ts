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
import type { BarrierCoordinator } from "./barriers.ts";
import type { SinkSet } from "./sinks.ts";

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
  /** Set once by the facade, right after construction. */
  barriers!: BarrierCoordinator;
  /** Set once by the facade, right after construction. */
  sinks!: SinkSet;

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
