/**
 * The public types of a pipeline run: what `run` takes (sources, options), what it reports
 * (structured events, dead letters, sink entries), and the plan `Pipeline.run` hands the runtime.
 *
 * @module
 */

import type { AnyIterable } from "../stream/sized.ts";
import type { StateStore } from "../state/store.ts";
import type { ResolvedNode } from "./spec.ts";

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

/** Options of `pipeline.run` (one run: its signal, checkpoint store and logger). */
export interface PipelineRunOptions {
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
