/**
 * `PipelineRun`: the public facade of one execution of a pipeline — its outputs, dead letters,
 * `done`, and run control (pause / resume / stop / wait). It builds the run's context (nodes,
 * edges, fusing, sinks) and starts the tasks; the work is done by the files it names:
 * `source_pump.ts`, `fn_node.ts`, `pool_node.ts`, `sinks.ts`, `barriers.ts`.
 *
 * @module
 */

import { abortError } from "../_internal/abort.ts";
import { assertNumber, InvalidArgumentError } from "../errors.ts";
import { optionsOf } from "../_internal/options.ts";
import { Cancelled, Edge } from "./edge.ts";
import { PipelineTimeoutError } from "./errors.ts";
import { StateCopier } from "./checkpoint_codec.ts";
import { BarrierCoordinator } from "./barriers.ts";
import { FusedNode, runFunctionNode } from "./fn_node.ts";
import { initNode } from "./node_results.ts";
import { runPoolNode } from "./pool_node.ts";
import { pumpSource } from "./source_pump.ts";
import { type NodeRuntime, RunContext, SourceRuntime } from "./run_context.ts";
import type {
  DeadLetter,
  PipelineRunOptions,
  RunPlan,
  SinkEntry,
  SourceInput,
} from "./run_types.ts";
import { type SinkConsumer, SinkSet } from "./sinks.ts";

export type {
  DeadLetter,
  PipelineEvent,
  PipelineRunOptions,
  RunPlan,
  SinkEntry,
  SourceInput,
} from "./run_types.ts";

/** How long a failed run waits for its tasks to wind down before `done` rejects anyway. */
const FAIL_GRACE_MS = 1000;

/** The sinks of each run (for the pipeline's own files: see {@linkcode consumeSink}). */
const sinkSets = new WeakMap<PipelineRun, SinkSet>();

/**
 * Drain sink `sink` of `run` through `fn` (bounded: the run-to-completion form used by
 * `Pipeline.runToCompletion` and the CLI; fused into the sink node's task when it can be).
 */
export function consumeSink(
  run: PipelineRun,
  sink: string,
  fn?: SinkConsumer,
  keep?: unknown[],
): Promise<void> {
  return sinkSets.get(run)!.consume(sink, fn, keep);
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
  readonly deadLetters: DeadLetter[];
  /** Resolves when every sink was read to its end and the last checkpoint is committed;
   * rejects with the run's error (`NodeError`, `AbortedError`, ...). */
  readonly done: Promise<void>;
  readonly #context: RunContext;
  readonly #barriers: BarrierCoordinator;
  readonly #sinks: SinkSet;

  /** @internal Use `Pipeline.run`. */
  constructor(
    plan: RunPlan,
    inputs: Record<string, SourceInput>,
    options: PipelineRunOptions,
  ) {
    checkPlan(plan);
    const context = new RunContext(plan, options.logger ?? plan.logger);
    this.#context = context;
    this.deadLetters = context.deadLetters;
    context.barriers = this.#barriers = new BarrierCoordinator(context, options);
    context.sinks = this.#sinks = new SinkSet(context);
    sinkSets.set(this, this.#sinks);
    // Build runtime nodes in topological order, edges from each input.
    for (const name of plan.order) {
      const def = plan.nodes.get(name)!;
      const rt: NodeRuntime = {
        def,
        inputs: [],
        targets: [],
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
        context.nodes.get(only)!.targets.push(new FusedNode(context, rt));
      } else {
        for (const input of def.inputs) {
          const e = new Edge(`${input}->${name}`, plan.buffer);
          context.edges.push(e);
          rt.inputs.push(e);
          context.nodes.get(input)!.targets.push(e);
        }
      }
      context.nodes.set(name, rt);
      if (def.kind === "source") context.sources.set(name, new SourceRuntime(name, rt.targets));
    }
    for (const name of plan.sinks) this.outputs[name] = this.#sinks.add(name, plan.sinkBuffer);
    this.done = this.#main(inputs, options);
    this.done.catch(() => {});
  }

  /** The checkpoint this run resumed from, if any. */
  get resumedFrom():
    | { checkpoint: number; positions: Record<string, number>; done: boolean }
    | undefined {
    return this.#context.resumedFrom;
  }

  /**
   * Dead letters of all runs of this checkpoint store, each counted once: the earlier runs' up to
   * the checkpoint resumed from, plus this run's (which re-occur after that checkpoint exactly
   * as they did before the crash or stop). Without a store: `deadLetters.length`.
   */
  get deadLettersTotal(): number {
    return this.#context.deadBefore + this.deadLetters.length;
  }

  async #main(inputs: Record<string, SourceInput>, options: PipelineRunOptions): Promise<void> {
    const context = this.#context;
    const barriers = this.#barriers;
    const signal = options.signal;
    const onAbort = () => context.fail(abortError("run the pipeline", signal!));
    let tasks: Promise<unknown> = Promise.resolve();
    try {
      if (signal?.aborted) onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      await barriers.open(options);
      context.opened = true;
      if (context.stopRequested) this.#stopNow();
      if (context.failed) throw context.error;
      const resumed = context.resumedFrom;
      context.log({
        type: "run-start",
        resumed: resumed !== undefined,
        checkpoint: resumed?.checkpoint,
        positions: resumed?.positions,
        deadLetters: resumed ? context.deadBefore : undefined,
        alreadyComplete: resumed?.done === true,
      });
      tasks = Promise.all(this.#startTasks(inputs));
      barriers.startTimer(options.checkpointEvery?.ms);
      const sinksEnded = [...this.#sinks.byName.values()].map((s) => s.ends);
      await Promise.race([Promise.all([tasks, ...sinksEnded]), context.failure]);
      for (let c = undefined; !context.failed && c !== barriers.commits;) {
        c = barriers.commits;
        await Promise.race([c, context.failure]);
      }
      if (context.failed) throw context.error;
      context.log({ type: "run-end", ok: true });
    } catch (error) {
      context.fail(error);
      context.log({ type: "run-end", ok: false, error: context.error });
      throw context.error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      barriers.stopTimer();
      this.#sinks.stopTimer();
      if (context.failed) {
        // A node stuck in a user function that never settles must not hang a failed or aborted
        // run: wait a bounded time for the tasks to notice the failure.
        let t: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([tasks, new Promise((r) => (t = setTimeout(r, FAIL_GRACE_MS)))]);
        clearTimeout(t);
      } else await tasks;
      await barriers.close();
    }
  }

  /** Start the source pumps and the tasks of the nodes that are not fused. */
  #startTasks(inputs: Record<string, SourceInput>): Promise<unknown>[] {
    const context = this.#context;
    const all: Promise<unknown>[] = [];
    context.started = true;
    for (const rt of context.nodes.values()) if (rt.fused) initNode(context, rt);
    for (const [name, src] of context.sources) all.push(pumpSource(context, src, inputs[name]!));
    for (const rt of context.nodes.values()) {
      if (!rt.fused && rt.def.kind !== "source") all.push(runNode(context, rt));
    }
    return all;
  }

  /** Whether sources are paused. */
  get paused(): boolean {
    return this.#context.paused;
  }

  /** Stop pulling from the sources (in-flight items keep flowing). */
  pause(): void {
    this.#context.paused = true;
  }

  /** Resume pulling from the sources. */
  resume(): void {
    this.#context.paused = false;
    for (const s of this.#context.sources.values()) s.wake();
  }

  /**
   * Drain gracefully: sources stop pulling, items in flight reach the sinks, and with a store a
   * last checkpoint is taken so a later run resumes exactly there. Returns `done`.
   */
  stop(): Promise<void> {
    const context = this.#context;
    if (!context.stopRequested) {
      context.stopRequested = true;
      // A sink nobody reads would hold the run forever (its items have nowhere to go): it is
      // abandoned and a later reader finds it ended. Its items are not lost: no checkpoint after
      // this point counts them as delivered, so a resume delivers them again.
      this.#sinks.abandonUnread();
      // Before the checkpoint store is loaded, stopping waits for it (checkpoint numbers
      // continue the loaded ones).
      if (context.opened) this.#stopNow();
    }
    return this.done;
  }

  #stopNow(): void {
    const context = this.#context;
    if (context.stopping || context.failed) return;
    if (context.barriers.checkpointing) context.barriers.request(true);
    context.stopping = true;
    for (const s of context.sources.values()) s.wake();
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
    const rt = this.#context.nodes.get(node);
    if (rt === undefined || rt.def.kind !== "state") {
      throw new InvalidArgumentError("get node state", "no stateful node has this name", {
        received: node,
      });
    }
    return rt.state as S;
  }

  /** The sink's outputs with their sequence numbers (read a sink through one form only). */
  entries(sink: string): AsyncIterable<SinkEntry> {
    return this.#sinks.entries(sink);
  }
}

/** The task of a node that is not fused (its own input edges). */
async function runNode(context: RunContext, rt: NodeRuntime): Promise<void> {
  const def = rt.def;
  context.log({ type: "node-start", node: def.name });
  try {
    initNode(context, rt);
    if (def.kind === "pool") await runPoolNode(context, rt);
    else await runFunctionNode(context, rt);
    context.log({ type: "node-end", node: def.name, outputs: rt.outputs });
  } catch (error) {
    if (error instanceof Cancelled) return;
    context.fail(error);
  }
}
