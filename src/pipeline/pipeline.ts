/**
 * `Pipeline`: build a DAG of processing nodes (functions, chains, pool-backed parallel nodes,
 * stateful nodes) with checked rates, then run it.
 *
 * @module
 */

import { assertInteger, describe, InvalidArgumentError } from "../errors.ts";
import {
  checkKeys,
  isRecord,
  optionalBoolean,
  optionalFunction,
  optionalString,
  optionsOf,
} from "../_internal/options.ts";
import { StateStore } from "../state/store.ts";
import { Graph } from "./graph.ts";
import { copyState, stateLoss } from "./checkpoint_codec.ts";
import { PipelineBuildError, RatioError } from "./errors.ts";
import {
  type NodeSpec,
  type Rate,
  type ResolvedNode,
  resolveSpec,
  scaleRate,
  type StatefulNodeSpec,
} from "./spec.ts";
import { consumeSink, PipelineRun } from "./run.ts";
import type { DeadLetter, PipelineEvent, PipelineRunOptions, SourceInput } from "./run_types.ts";

const PIPELINE_KEYS = ["buffer", "sinkBuffer", "logger", "fuse"];
const RUN_KEYS = ["signal", "store", "checkpointEvery", "keep", "stateName", "logger"];
const COMPLETION_KEYS = [...RUN_KEYS, "sinks", "track"];
const COMMON_NODE_KEYS = ["inputs", "consume", "produce", "repeat", "spawn", "errors"];
const KIND_KEYS: Record<string, string[]> = {
  fn: ["fn"],
  chain: ["chain"],
  pool: ["pool", "ordered", "chunkSize", "maxInFlight"],
  state: ["state", "fn"],
};
const KIND_NAMES: Record<string, string> = {
  fn: "function",
  chain: "chain",
  pool: "pool",
  state: "stateful",
};
const ALL_NODE_KEYS = [...new Set([...COMMON_NODE_KEYS, ...Object.values(KIND_KEYS).flat()])];

/** Options of {@linkcode Pipeline}. */
export interface PipelineOptions {
  /** Capacity of each edge between nodes, in items (default 64). */
  buffer?: number;
  /** Capacity of each sink's buffer before it may grow (default 1024, see docs/pipeline.md). */
  sinkBuffer?: number;
  /** Structured log events of every run (a run's own `logger` wins). */
  logger?: (event: PipelineEvent) => void;
  /**
   * Run each function/chain/stateful node with one input, `consume`/`produce`/`spawn` 1, that is
   * the only reader of its input, inside its input's task (operator chaining: no queue and no
   * task switch per item). Default `true`; the results are the same either way.
   */
  fuse?: boolean;
}

/** Options of {@linkcode Pipeline.runToCompletion}. */
export interface RunToCompletionOptions extends PipelineRunOptions {
  /** Per-sink consumers: `fn(item, {seq})`, awaited one item at a time (bounded memory). */
  sinks?: Record<string, (item: unknown, info: { seq: number }) => unknown>;
  /** Sinks whose outputs are kept and returned (default: every sink without a consumer). */
  track?: string[];
}

/** What {@linkcode Pipeline.runToCompletion} returns. */
export interface RunResult {
  /** Outputs of the tracked sinks, in order. */
  outputs: Record<string, unknown[]>;
  /** Final states of the stateful nodes. */
  states: Record<string, unknown>;
  /** This run's dead letters (see `PipelineRun.deadLetters`). */
  deadLetters: DeadLetter[];
  /** Dead letters of every run of the checkpoint store, each counted once (see
   * `PipelineRun.deadLettersTotal`); `deadLetters.length` without a store. */
  deadLettersTotal: number;
  /** The checkpoint the run resumed from, if any. */
  resumedFrom: PipelineRun["resumedFrom"];
}

/**
 * A pipeline: named sources and nodes, each node reading its inputs in declared order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Pipeline } from "@spool/spool";
 *
 * const p = new Pipeline();
 * p.source("numbers");
 * p.node("double", { inputs: ["numbers"], fn: (x: number) => 2 * x });
 * p.node("square", { inputs: ["numbers"], fn: (x: number) => x * x });
 * p.node("sum", { inputs: ["double", "square"], fn: (a: number, b: number) => a + b });
 * p.node("total", { inputs: ["sum"], state: { total: 0 }, fn: (s, x: number) => (s.total += x) });
 * const result = await p.runToCompletion({ numbers: [1, 2, 3] });
 * assert.ok(result.outputs.total!.join() === "3,11,26");
 * assert.ok((result.states.total as { total: number }).total === 26);
 * ```
 */
export class Pipeline {
  readonly #graph = new Graph();
  readonly #nodes = new Map<string, ResolvedNode>();
  readonly #options: Required<Omit<PipelineOptions, "logger">> & Pick<PipelineOptions, "logger">;

  /**
   * An empty pipeline.
   *
   * @param options edge and sink buffer sizes, logger
   */
  constructor(options: PipelineOptions = {}) {
    const action = "create a pipeline";
    const o = optionsOf(action, options, PIPELINE_KEYS);
    this.#options = {
      buffer: assertInteger(action, "buffer", o.buffer ?? 64, 1),
      sinkBuffer: assertInteger(action, "sinkBuffer", o.sinkBuffer ?? 1024, 1),
      logger: optionalFunction(action, "logger", o.logger),
      fuse: optionalBoolean(action, "fuse", o.fuse) ?? true,
    };
  }

  /** The pipeline's graph (read it; change it through the pipeline). */
  get graph(): Graph {
    return this.#graph;
  }

  /** Add an entry point named `name`; `run` gets its items by that name. */
  source(name: string): this {
    this.#graph.addNode(name);
    this.#nodes.set(name, {
      name,
      kind: "source",
      inputs: [],
      consume: 1,
      produce: 1,
      repeat: false,
      spawn: 1,
      errors: "fail",
      ordered: true,
      rate: { num: 1, den: 1 },
    });
    return this;
  }

  /**
   * Add a node reading `spec.inputs` (existing nodes, in that order).
   *
   * @throws {RatioError} when its inputs carry items at different rates
   * @throws {PipelineBuildError} for an unknown input or a bad spec
   */
  node<S>(name: string, spec: StatefulNodeSpec<S>): this;
  /** Add a function, chain or pool node (see {@linkcode NodeSpec}). */
  node(name: string, spec: NodeSpec): this;
  node(name: string, spec: NodeSpec): this {
    const action = `add node ${JSON.stringify(name)}`;
    // A typo (`consumes`, `timeoutMs`) is refused, first against every node field, then (after
    // the kind is known) against the fields of that kind: `ordered` on a function node is not
    // silently ignored either.
    if (isRecord(spec)) checkKeys(action, spec, ALL_NODE_KEYS, "node field");
    const resolved = resolveSpec(name, spec);
    const bag = spec as unknown as Record<string, unknown>;
    checkKeys(
      action,
      bag,
      [...COMMON_NODE_KEYS, ...KIND_KEYS[resolved.kind]!],
      `${KIND_NAMES[resolved.kind]} node field`,
    );
    if (resolved.kind === "pool") {
      const c = bag.chunkSize;
      if (c !== undefined && c !== "auto") assertInteger(action, 'chunkSize (or "auto")', c, 1);
      if (bag.maxInFlight !== undefined) {
        assertInteger(action, "maxInFlight", bag.maxInFlight, 1);
      }
    }
    if (resolved.kind === "state") {
      // The state is copied per run: a value that cannot be copied (a function, a symbol) is
      // refused here, not dropped or failed on later.
      try {
        copyState(resolved.initial);
      } catch (error) {
        throw new InvalidArgumentError(
          action,
          `the state cannot be copied per run (${
            error instanceof Error ? `${error.name}: ${error.message}` : String(error)
          })`,
          { received: resolved.initial, cause: error },
        );
      }
    }
    for (const input of resolved.inputs) {
      if (!this.#nodes.has(input)) {
        throw new PipelineBuildError(action, "its input is not a node of the pipeline", {
          received: input,
        });
      }
    }
    const rates = resolved.inputs.map((i) => this.#nodes.get(i)!.rate);
    const r0 = rates[0]!;
    for (let i = 1; i < rates.length; i++) {
      const r = rates[i]!;
      if (r.num !== r0.num || r.den !== r0.den) {
        throw new RatioError(
          action,
          `its inputs carry items at different rates (outputs per source item): ${
            resolved.inputs.map((n, j) => `${n} ${rates[j]!.num}/${rates[j]!.den}`).join(", ")
          }; zipping them would misalign items`,
          { received: resolved.inputs },
        );
      }
    }
    this.#graph.addNode(name, resolved.inputs);
    this.#nodes.set(name, { ...resolved, rate: scaleRate(r0, resolved.produce, resolved.consume) });
    return this;
  }

  /**
   * Remove a node (refused while others read from it, unless `force`: then the nodes reading it
   * lose that input). A node it is the only input of is never left without inputs: the removal
   * is refused, naming those nodes (remove them first).
   *
   * @throws {PipelineBuildError} when a node would be left without inputs
   */
  remove(name: string, options: { force?: boolean } = {}): this {
    const action = `remove node ${JSON.stringify(name)}`;
    const o = optionsOf(action, options, ["force"]);
    optionalBoolean(action, "force", o.force);
    const downstream = this.#graph.has(name) ? this.#graph.outputsOf(name) : [];
    const orphans = downstream.filter((d) => this.#graph.inputsOf(d).length === 1);
    if (orphans.length > 0 && o.force === true) {
      throw new PipelineBuildError(
        action,
        `node${orphans.length > 1 ? "s" : ""} ${
          orphans.map((d) => JSON.stringify(d)).join(", ")
        } would be left without inputs (remove ${orphans.length > 1 ? "them" : "it"} first)`,
        { received: orphans },
      );
    }
    this.#graph.removeNode(name, options);
    this.#nodes.delete(name);
    for (const d of downstream) {
      const n = this.#nodes.get(d);
      if (n) n.inputs = this.#graph.inputsOf(d);
    }
    return this;
  }

  /** Outputs per source item of a node (`produce / consume` along its path). */
  rate(name: string): Rate {
    const n = this.#nodes.get(name);
    if (n === undefined) {
      throw new PipelineBuildError("get the rate", "no node has this name", { received: name });
    }
    return { ...n.rate };
  }

  /** Names of the sources, in insertion order. */
  sources(): string[] {
    return this.#graph.sources().filter((n) => this.#nodes.get(n)!.kind === "source");
  }

  /** Names of the sinks (nodes nobody reads from), in insertion order. */
  sinks(): string[] {
    return this.#graph.sinks();
  }

  /** A Mermaid flowchart of the pipeline. */
  toMermaid(): string {
    return this.#graph.toMermaid();
  }

  /** A Graphviz DOT description of the pipeline. */
  toDot(): string {
    return this.#graph.toDot();
  }

  /**
   * Start a run. `sources` gives each source's items by name: an iterable, or a function
   * `(position) => iterable` used to resume at `position` (a plain iterable is skipped forward).
   * Read the sinks from `run.outputs` in any order and await `run.done`.
   */
  run(sources: Record<string, SourceInput>, options: PipelineRunOptions = {}): PipelineRun {
    return this.#run(
      sources,
      optionsOf("run the pipeline", options, RUN_KEYS) as PipelineRunOptions,
    );
  }

  #run(sources: Record<string, SourceInput>, options: PipelineRunOptions): PipelineRun {
    const action = "run the pipeline";
    if (!isRecord(sources)) {
      throw new InvalidArgumentError(
        action,
        "sources must be an object keyed by source name",
        { received: sources },
      );
    }
    this.#checkRunOptions(action, options);
    this.#checkGraph(action);
    const names = this.sources();
    if (names.length === 0) throw new PipelineBuildError(action, "the pipeline has no source");
    for (const n of names) {
      if (!(n in sources)) {
        throw new InvalidArgumentError(action, "a source has no input", { received: n });
      }
    }
    for (const n of Object.keys(sources)) {
      if (!names.includes(n)) {
        throw new InvalidArgumentError(action, "no source has this name", { received: n });
      }
    }
    const nodes = new Map<string, ResolvedNode>();
    for (const [k, v] of this.#nodes) nodes.set(k, { ...v, inputs: [...v.inputs] });
    return new PipelineRun(
      {
        order: this.#graph.topologicalOrder(),
        nodes,
        outputsOf: (n) => this.#graph.outputsOf(n),
        sources: names,
        sinks: this.sinks(),
        buffer: this.#options.buffer,
        sinkBuffer: this.#options.sinkBuffer,
        fuse: this.#options.fuse,
        logger: this.#options.logger,
      },
      sources,
      options,
    );
  }

  /** Check the run options (keys were checked): types, and what would disable a guarantee. */
  #checkRunOptions(action: string, options: PipelineRunOptions): void {
    const o = options as Record<string, unknown>;
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
      throw new InvalidArgumentError(action, "signal must be an AbortSignal", {
        received: o.signal,
      });
    }
    optionalFunction(action, "logger", o.logger);
    optionalString(action, "stateName", o.stateName);
    const store = o.store;
    if (
      store !== undefined && !(store instanceof StateStore) &&
      (typeof store !== "string" || store === "")
    ) {
      throw new InvalidArgumentError(
        action,
        "store must be a StateStore or a directory path",
        { received: store },
      );
    }
    const every = o.checkpointEvery;
    if (every !== undefined) {
      if (!isRecord(every)) {
        throw new InvalidArgumentError(action, "checkpointEvery must be {items?, ms?}", {
          received: every,
        });
      }
      checkKeys(`${action} (checkpointEvery)`, every, ["items", "ms"]);
      if (every.items !== undefined) assertInteger(action, "checkpointEvery.items", every.items, 1);
      if (every.ms !== undefined) assertInteger(action, "checkpointEvery.ms", every.ms, 1);
      if (store === undefined) {
        throw new InvalidArgumentError(action, "checkpointEvery needs a store", {
          received: every,
        });
      }
    }
    if (o.keep !== undefined) {
      // keep: 0 would leave the store without a checkpoint to resume from.
      assertInteger(action, "keep", o.keep, 1);
      if (typeof store !== "string") {
        throw new InvalidArgumentError(
          action,
          "keep applies to a directory store (a StateStore keeps what its own keeper selects)",
          { received: o.keep },
        );
      }
    }
    if (store !== undefined) {
      for (const [name, n] of this.#nodes) {
        if (n.kind !== "state") continue;
        const loss = stateLoss(n.initial);
        if (loss !== undefined) {
          throw new InvalidArgumentError(
            action,
            `the state of node ${
              JSON.stringify(name)
            } would not survive a checkpoint unchanged: ${loss}`,
            { received: n.initial },
          );
        }
      }
    }
  }

  /** The graph must still match the nodes: a change made through `graph` directly is refused. */
  #checkGraph(action: string): void {
    for (const [name, n] of this.#nodes) {
      if (!this.#graph.has(name)) {
        throw new PipelineBuildError(action, "a node was removed from the graph directly", {
          received: name,
        });
      }
      const ins = this.#graph.inputsOf(name);
      if (n.kind !== "source" && ins.length === 0) {
        throw new PipelineBuildError(action, "a node has no inputs", { received: name });
      }
      if (ins.join("\0") !== n.inputs.join("\0")) {
        throw new PipelineBuildError(
          action,
          `the inputs of node ${JSON.stringify(name)} were changed in the graph directly (${
            describe(ins)
          } instead of ${describe(n.inputs)}; use the pipeline's methods)`,
          { received: name },
        );
      }
    }
    if (this.#graph.size !== this.#nodes.size) {
      const extra = this.#graph.nodes().filter((n) => !this.#nodes.has(n));
      throw new PipelineBuildError(action, "a node was added to the graph directly", {
        received: extra,
      });
    }
  }

  /**
   * Run to the end, draining every sink concurrently: through `options.sinks[name]` consumers
   * (bounded memory) or by keeping the outputs of tracked sinks.
   */
  async runToCompletion(
    sources: Record<string, SourceInput>,
    options: RunToCompletionOptions = {},
  ): Promise<RunResult> {
    const action = "run the pipeline";
    const o = optionsOf(action, options, COMPLETION_KEYS);
    const { sinks: given, track: tracked, ...runOptions } = o;
    if (given !== undefined && !isRecord(given)) {
      throw new InvalidArgumentError(action, "sinks must be an object of functions", {
        received: given,
      });
    }
    const consumers = (given ?? {}) as NonNullable<RunToCompletionOptions["sinks"]>;
    const sinks = this.sinks();
    for (const [n, fn] of Object.entries(consumers)) {
      if (!sinks.includes(n)) {
        throw new InvalidArgumentError(action, "no sink has this name", { received: n });
      }
      if (typeof fn !== "function") {
        throw new InvalidArgumentError(
          action,
          `the consumer of sink ${JSON.stringify(n)} must be a function (item, {seq})`,
          { received: fn },
        );
      }
    }
    if (tracked !== undefined && !Array.isArray(tracked)) {
      throw new InvalidArgumentError(action, "track must be an array of sink names", {
        received: tracked,
      });
    }
    const track = (tracked as string[] | undefined) ??
      sinks.filter((s) => consumers[s] === undefined);
    for (const n of track) {
      if (!sinks.includes(n)) {
        throw new InvalidArgumentError(action, "a tracked node must be a sink", { received: n });
      }
    }
    const run = this.#run(sources, runOptions as PipelineRunOptions);
    const outputs: Record<string, unknown[]> = {};
    const drains = sinks.map((s) => {
      const keep = track.includes(s) ? (outputs[s] = []) : undefined;
      return consumeSink(run, s, consumers[s], keep);
    });
    const drained = Promise.all(drains);
    drained.catch(() => {});
    await Promise.all([drained, run.done]).catch(async (error) => {
      await run.done.catch(() => {});
      await drained.catch(() => {});
      throw error;
    });
    const states: Record<string, unknown> = {};
    for (const [name, n] of this.#nodes) if (n.kind === "state") states[name] = run.state(name);
    return {
      outputs,
      states,
      deadLetters: run.deadLetters,
      deadLettersTotal: run.deadLettersTotal,
      resumedFrom: run.resumedFrom,
    };
  }
}
