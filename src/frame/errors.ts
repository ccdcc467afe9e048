/**
 * Typed errors of the frame area.
 *
 * @module
 */

import { SpoolError, type SpoolErrorOptions } from "../errors.ts";

/** What a {@linkcode FrameError} is about, besides its action and reason. */
export interface FrameErrorOptions extends SpoolErrorOptions {
  /** The column the error is about. */
  column?: string;
}

/**
 * A frame was built or combined wrongly: unequal column lengths, an unsupported column type,
 * mismatched columns or dtypes in `concat`. `column` names the offending column when there is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Frame, FrameError } from "@spool/spool";
 *
 * try {
 *   new Frame({ a: new Float64Array(2), b: new Float64Array(3) });
 * } catch (error) {
 *   assert.ok(error instanceof FrameError && error.column === "b");
 * }
 * ```
 */
export class FrameError extends SpoolError {
  /** The column the error is about, when there is one. */
  readonly column: string | undefined;

  /**
   * Build the error; the message reads `Cannot <action>: <reason>[, received <value>]`.
   *
   * @param action what was attempted ("build a frame")
   * @param reason why it failed
   * @param options the offending column (`column`), value (`received`) and `cause`, if any
   */
  constructor(action: string, reason: string, options?: FrameErrorOptions) {
    super(action, reason, options);
    this.column = options?.column;
  }
}
