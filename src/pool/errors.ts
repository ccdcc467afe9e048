/**
 * Typed errors of the worker pool.
 *
 * @module
 */

import { SpoolError } from "../errors.ts";

/** An error as it crosses a worker boundary: plain data, structured-clone and JSON safe. */
export interface EncodedError {
  /** The error's `name` (`"TypeError"`, ...). */
  name: string;
  /** The error's `message`. */
  message: string;
  /** The error's stack as printed inside the worker. */
  stack?: string;
}

/** Turn anything thrown into an {@linkcode EncodedError}. */
export function encodeError(error: unknown): EncodedError {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack };
  }
  let message: string;
  try {
    message = typeof error === "string" ? error : JSON.stringify(error) ?? String(error);
  } catch {
    message = String(error);
  }
  return { name: "NonErrorThrown", message };
}

/** Rebuild an `Error` (same name, message and the worker's stack) from an {@linkcode EncodedError}. */
export function decodeError(encoded: EncodedError): Error {
  const error = new Error(encoded.message);
  error.name = encoded.name;
  if (encoded.stack !== undefined) error.stack = encoded.stack;
  return error;
}

function summary(error: Error): string {
  return `${error.name}: ${error.message}`;
}

/**
 * A task of `pool.map` failed: the worker threw, crashed, or ran past `timeoutMs`.
 *
 * `index` is the 0-based position of the input in the source; `cause` is the worker's error
 * rebuilt with its original name, message and stack (or a {@linkcode WorkerCrashError} /
 * `TimeoutError`); `stack` ends with the worker's stack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TaskError } from "@spool/spool";
 * const err = new TaskError(7, 1, new RangeError("bad input"));
 * assert.ok(err.index === 7 && err.workerIndex === 1);
 * assert.ok(err.message === "Cannot process input #7: worker 1 threw RangeError: bad input");
 * ```
 */
export class TaskError extends SpoolError {
  /** 0-based index of the failed input in the source. */
  readonly index: number;
  /** Index of the worker that ran the task (0-based). */
  readonly workerIndex: number;
  /** The stack printed inside the worker, when there was one. */
  readonly workerStack: string | undefined;

  /**
   * Build the error of input `index` run by worker `workerIndex`.
   *
   * @param index input index in the source
   * @param workerIndex worker that ran the task
   * @param cause the worker-side error (its stack is kept)
   */
  constructor(index: number, workerIndex: number, cause: Error) {
    super(`process input #${index}`, `worker ${workerIndex} threw ${summary(cause)}`, undefined, {
      cause,
    });
    // The base class appends ", received ..." only when given 3+ arguments; keep the message short.
    this.message = `Cannot process input #${index}: worker ${workerIndex} threw ${summary(cause)}`;
    this.index = index;
    this.workerIndex = workerIndex;
    this.workerStack = cause.stack;
    if (cause.stack) {
      this.stack = `${this.stack}\nCaused by (in worker ${workerIndex}): ${cause.stack}`;
    }
  }
}

/**
 * A worker died while running a task: an uncaught error outside `process`, `self.close()`,
 * `Deno.exit()`, a killed or crashed child process. The pool replaces the worker.
 */
export class WorkerCrashError extends SpoolError {
  /** Index of the worker that died. */
  readonly workerIndex: number;
  /**
   * Build the error of a worker that died.
   *
   * @param workerIndex the worker that died
   * @param reason what happened, e.g. `"the worker called Deno.exit(3)"`
   * @param cause the uncaught error, when there was one
   */
  constructor(workerIndex: number, reason: string, cause?: Error) {
    super(`keep worker ${workerIndex} running`, reason, undefined, cause ? { cause } : undefined);
    this.message = `Cannot keep worker ${workerIndex} running: ${reason}`;
    this.workerIndex = workerIndex;
    if (cause?.stack) {
      this.stack = `${this.stack}\nCaused by (in worker ${workerIndex}): ${cause.stack}`;
    }
  }
}

/**
 * A worker's `init` failed (or the module could not be loaded) while the pool started. The other
 * workers are stopped. `cause` carries the worker's error with its stack.
 */
export class WorkerInitError extends SpoolError {
  /** Index of the worker whose init failed. */
  readonly workerIndex: number;
  /**
   * Build the error of a worker whose init failed.
   *
   * @param workerIndex the worker that failed
   * @param cause its error (rebuilt with the worker's stack)
   */
  constructor(workerIndex: number, cause: Error) {
    super("start worker pool", `worker ${workerIndex} failed to initialise`, undefined, { cause });
    this.message = `Cannot start worker pool: worker ${workerIndex} failed to initialise: ${
      summary(cause)
    }`;
    this.workerIndex = workerIndex;
    if (cause.stack) {
      this.stack = `${this.stack}\nCaused by (in worker ${workerIndex}): ${cause.stack}`;
    }
  }
}
