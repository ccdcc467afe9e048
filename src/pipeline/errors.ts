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

/** A node's function failed on an item while the node's error policy is `"fail"`. */
export class NodeError extends SpoolError {
  /** The node whose function failed. */
  readonly node: string;
  /**
   * Build the error for `node`; the original error is the `cause`.
   *
   * @param node the node name
   * @param item the input the function received
   * @param cause the error the function threw
   */
  constructor(node: string, item: unknown, cause: unknown) {
    super(
      `process an item in node ${JSON.stringify(node)}`,
      `the function threw ${
        cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
      }`,
      item,
      { cause },
    );
    this.node = node;
  }
}

/** `run.wait({timeoutMs})` ran out of time (the run goes on). */
export class PipelineTimeoutError extends TimeoutError {}

/** A checkpoint could not be written or a saved one does not fit this pipeline. */
export class CheckpointError extends SpoolError {}
