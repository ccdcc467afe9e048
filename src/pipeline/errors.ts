/**
 * Typed errors of the pipeline area.
 *
 * @module
 */

import { SpoolError, TimeoutError } from "../errors.ts";

/** A pipeline that cannot be built: unknown input, bad node spec, inconsistent ratios. */
export class PipelineBuildError extends SpoolError {}

/** Two inputs of a fan-in node carry items at different rates (outputs per source item). */
export class RatioError extends PipelineBuildError {}

/**
 * A node's function failed on an item while the node's error policy is `"fail"`.
 *
 * The same wrapper for every node kind: `cause` is the user's error as thrown by a function,
 * chain or stateful node, and for a pool node the worker's error rebuilt by the pool (the pool's
 * `TaskError` wrapper is taken off), or the pool's `WorkerCrashError` / `TimeoutError` when the
 * worker died or ran out of time.
 */
export class NodeError extends SpoolError {
  /** The node whose function failed. */
  readonly node: string;
  /** Position of the (first) input slot of the failed call in the node's input stream. */
  readonly position: number | undefined;
  /**
   * Build the error for `node`; the original error is the `cause`.
   *
   * @param node the node name
   * @param item the input the function received
   * @param cause the error the function threw
   * @param position the input position of the call (see `DeadLetter.position`)
   */
  constructor(node: string, item: unknown, cause: unknown, position?: number) {
    super(
      `process an item in node ${JSON.stringify(node)}`,
      `the function threw ${
        cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
      }`,
      { received: item, cause },
    );
    this.node = node;
    this.position = position;
  }
}

/**
 * The `error` of a dead letter for good items that a fan-in node zipped with a hole (an item of
 * another input that failed upstream): the function needs every input, so they were not
 * processed. `received` is the args array, `undefined` where the hole was.
 */
export class HoleError extends SpoolError {}

/** `run.wait({timeoutMs})` ran out of time (the run goes on). */
export class PipelineTimeoutError extends TimeoutError {}

/** A checkpoint could not be written or a saved one does not fit this pipeline. */
export class CheckpointError extends SpoolError {}
