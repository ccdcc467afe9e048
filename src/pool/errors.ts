/**
 * Typed errors of the worker pool.
 *
 * @module
 */

import {
  AbortedError,
  ClosedError,
  describe,
  InternalError,
  InvalidArgumentError,
  SpoolError,
  TimeoutError,
} from "../errors.ts";

/** A thrown value as it crosses a worker boundary: an encoded error, or a value sent as is. */
export type EncodedThrown = { error: EncodedError } | { value: unknown };

/** An error as it crosses a worker boundary: plain data, structured-clone and `node:v8` safe. */
export interface EncodedError {
  /** The error's `name` (`"TypeError"`, `"MyError"`, ...). */
  name: string;
  /** The error's `message`. */
  message: string;
  /** The error's stack as printed inside the worker. */
  stack?: string;
  /**
   * The nearest built-in class in its prototype chain (`"RangeError"`, `"DOMException"`, ...), or
   * the spool error class it is (`"InvalidArgumentError"`, with `spool` set): the class the error
   * is rebuilt with. Absent: `Error`.
   */
  base?: string;
  /** Set when `base` names a spool error class. */
  spool?: true;
  /** Own enumerable properties (`code`, `errno`, ...) whose values can be sent. */
  props?: Record<string, unknown>;
  /** The error's `cause`, when it has one. */
  cause?: EncodedThrown;
  /** An `AggregateError`'s `errors`. */
  errors?: EncodedThrown[];
}

/** Built-in error classes rebuilt on the receiving side (so `instanceof` works). */
const BUILTIN: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** spool's own error classes rebuilt by name (registered below, once every class exists). */
const SPOOL: Record<string, new (...args: never[]) => Error> = {};

/** Register spool error classes that may cross a worker boundary. */
function registerSpoolErrors(...classes: (new (...args: never[]) => Error)[]): void {
  for (const c of classes) SPOOL[c.name] = c;
}

const RESERVED = new Set(["name", "message", "stack", "cause", "errors"]);
const MAX_DEPTH = 8;

/** Whether `value` can be copied to another worker (primitives, structured-cloneable data). */
function sendable(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  const t = typeof value;
  if (t === "string" || t === "number" || t === "boolean" || t === "bigint") return true;
  if (t === "function" || t === "symbol") return false;
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

function baseOf(error: Error): { base?: string; spool?: true } {
  if (error instanceof SpoolError) {
    for (
      let p = Object.getPrototypeOf(error);
      p && p !== Error.prototype;
      p = Object.getPrototypeOf(p)
    ) {
      const name = (p.constructor as { name?: string } | undefined)?.name;
      if (name && SPOOL[name] === p.constructor) return { base: name, spool: true };
    }
  }
  if (error instanceof DOMException) return { base: "DOMException" };
  if (error instanceof AggregateError) return { base: "AggregateError" };
  for (
    let p = Object.getPrototypeOf(error);
    p && p !== Error.prototype;
    p = Object.getPrototypeOf(p)
  ) {
    const name = (p.constructor as { name?: string } | undefined)?.name;
    if (name && BUILTIN[name] === p.constructor) return { base: name };
  }
  return {};
}

function encodeThrown(value: unknown, depth: number, seen: Set<unknown>): EncodedThrown {
  if (value instanceof Error && depth < MAX_DEPTH && !seen.has(value)) {
    return { error: encodeWith(value, depth, seen) };
  }
  if (sendable(value)) return { value };
  return { error: encodeWith(value, MAX_DEPTH, seen) };
}

function encodeWith(error: unknown, depth: number, seen: Set<unknown>): EncodedError {
  if (!(error instanceof Error)) {
    let message: string;
    try {
      message = typeof error === "string" ? error : JSON.stringify(error) ?? String(error);
    } catch {
      message = String(error);
    }
    return { name: "NonErrorThrown", message };
  }
  seen.add(error);
  const out: EncodedError = { name: String(error.name), message: String(error.message) };
  if (typeof error.stack === "string") out.stack = error.stack;
  Object.assign(out, baseOf(error));
  for (const key of Object.keys(error)) {
    if (RESERVED.has(key)) continue;
    let v: unknown;
    try {
      v = (error as unknown as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    if (sendable(v)) (out.props ??= {})[key] = v;
  }
  if ("cause" in error && error.cause !== undefined) {
    out.cause = encodeThrown(error.cause, depth + 1, seen);
  }
  if (error instanceof AggregateError && Array.isArray(error.errors)) {
    out.errors = error.errors.map((e) => encodeThrown(e, depth + 1, seen));
  }
  return out;
}

/**
 * Turn anything thrown into an {@linkcode EncodedError}: name, message, stack, the nearest
 * built-in class, own properties that can be sent, the `cause` chain and an `AggregateError`'s
 * `errors`. A thrown non-error becomes `name: "NonErrorThrown"` with its JSON as message.
 */
export function encodeError(error: unknown): EncodedError {
  return encodeWith(error, 0, new Set());
}

function decodeThrown(t: EncodedThrown): unknown {
  return "error" in t ? decodeError(t.error) : t.value;
}

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true });
}

/**
 * Rebuild an error from an {@linkcode EncodedError}: built-in classes (`RangeError`,
 * `AggregateError`, `DOMException`, ...) and spool's own error classes keep their class, so
 * `instanceof` works; any other class comes back as the nearest built-in one with its `name`.
 * Message, the worker's stack, own properties and the `cause` chain are kept.
 */
export function decodeError(encoded: EncodedError): Error {
  const { base, message } = encoded;
  let error: Error;
  if (base === "DOMException") {
    error = new DOMException(message, encoded.name);
  } else if (base === "AggregateError") {
    error = new AggregateError((encoded.errors ?? []).map(decodeThrown), message);
  } else if (encoded.spool && base !== undefined && SPOOL[base]) {
    // built without running the class's constructor: the message is kept exactly as it was
    error = Reflect.construct(Error, [message], SPOOL[base]!) as Error;
  } else {
    error = new (BUILTIN[base ?? "Error"] ?? Error)(message);
  }
  if (error.name !== encoded.name) define(error, "name", encoded.name);
  if (encoded.stack !== undefined) define(error, "stack", encoded.stack);
  if (encoded.cause !== undefined) define(error, "cause", decodeThrown(encoded.cause));
  if (encoded.props) {
    for (const [k, v] of Object.entries(encoded.props)) {
      try {
        Object.defineProperty(error, k, {
          value: v,
          writable: true,
          configurable: true,
          enumerable: true,
        });
      } catch { /* a property the class does not let us set */ }
    }
  }
  return error;
}

/**
 * The first part of `value` that `probe` (the transport's encoder) refuses, as a path from
 * `root` (`init.model.fn`, `input[2]`), with the refused value and the encoder's error; or
 * `undefined` when `value` can be sent whole.
 */
export function findUnsendable(
  value: unknown,
  probe: (value: unknown) => void,
  root: string,
): { path: string; value: unknown; error: unknown } | undefined {
  try {
    probe(value);
    return undefined;
  } catch (error) {
    return descend(value, probe, root, error, 0);
  }
}

function descend(
  value: unknown,
  probe: (value: unknown) => void,
  path: string,
  error: unknown,
  depth: number,
): { path: string; value: unknown; error: unknown } {
  if (value !== null && typeof value === "object" && depth < 32) {
    let entries: [string, unknown][];
    if (Array.isArray(value)) entries = value.map((v, i) => [`${path}[${i}]`, v]);
    else if (value instanceof Map) {
      entries = [];
      for (const [k, v] of value) {
        entries.push([`${path}<key>`, k], [`${path}.get(${describe(k)})`, v]);
      }
    } else if (value instanceof Set) entries = [...value].map((v, i) => [`${path}<item ${i}>`, v]);
    else entries = Object.entries(value).map(([k, v]) => [`${path}.${k}`, v]);
    for (const [p, v] of entries) {
      try {
        probe(v);
      } catch (e) {
        return descend(v, probe, p, e, depth + 1);
      }
    }
  }
  return { path, value, error };
}

/** Why a value cannot be sent, in words (after "cannot be sent to ...: "). */
export function unsendableReason(value: unknown, error: unknown): string {
  if (typeof value === "function") return "a function cannot be copied between workers";
  if (typeof value === "symbol") return "a symbol cannot be copied between workers";
  const msg = error instanceof Error ? error.message : String(error);
  return `the value cannot be copied between workers (${msg})`;
}

function summary(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : describe(error);
}

/** The stack of a worker-side error (appended to the spool error's own stack), if it has one. */
function workerStackOf(cause: unknown): string | undefined {
  return cause instanceof Error && typeof cause.stack === "string" ? cause.stack : undefined;
}

/**
 * A task of `pool.map` failed: the worker threw, crashed, or ran past `timeoutMs`.
 *
 * `index` is the 0-based position of the input in the source; `received` is that input (what the
 * task was given); `cause` is the worker's error rebuilt with its original name, message and
 * stack (or a {@linkcode WorkerCrashError} / `TimeoutError`); `stack` ends with the worker's
 * stack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TaskError } from "@spool/spool";
 * const err = new TaskError(7, 1, new RangeError("bad input"), { n: -1 });
 * assert.ok(err.index === 7 && err.workerIndex === 1);
 * assert.equal(
 *   err.message,
 *   'Cannot process input #7: worker 1 threw RangeError: bad input, received {"n":-1}',
 * );
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
   * @param input the input the task was given (the message's received value)
   */
  constructor(index: number, workerIndex: number, cause: Error, input?: unknown) {
    super(`process input #${index}`, `worker ${workerIndex} threw ${summary(cause)}`, {
      received: input,
      cause,
    });
    this.index = index;
    this.workerIndex = workerIndex;
    this.workerStack = workerStackOf(cause);
    if (this.workerStack) {
      this.stack = `${this.stack}\nCaused by (in worker ${workerIndex}): ${this.workerStack}`;
    }
  }
}

/**
 * A worker died while running a task: an uncaught error outside `process`, `self.close()`,
 * `Deno.exit()`, a killed or crashed child process. The pool replaces the worker.
 *
 * The message's received value is the worker (`received worker 0`); `received` holds its index.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerCrashError } from "@spool/spool";
 * const err = new WorkerCrashError(2, "the worker called Deno.exit(3)");
 * assert.equal(
 *   err.message,
 *   "Cannot keep a worker running: the worker called Deno.exit(3), received worker 2",
 * );
 * ```
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
    const shown = `worker ${workerIndex}`;
    super(
      "keep a worker running",
      reason,
      cause ? { received: workerIndex, shown, cause } : { received: workerIndex, shown },
    );
    this.workerIndex = workerIndex;
    const stack = workerStackOf(cause);
    if (stack) this.stack = `${this.stack}\nCaused by (in worker ${workerIndex}): ${stack}`;
  }
}

/**
 * A worker's `init` failed (or the module could not be loaded) while the pool started. The other
 * workers are stopped. `cause` carries the worker's error with its stack; `received` is the
 * init arguments that worker was given (what `init` received).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerInitError } from "@spool/spool";
 * const err = new WorkerInitError(1, new RangeError("no model"), { model: "m.bin" });
 * assert.equal(
 *   err.message,
 *   'Cannot start worker pool: worker 1 failed to initialise: RangeError: no model, received {"model":"m.bin"}',
 * );
 * ```
 */
export class WorkerInitError extends SpoolError {
  /** Index of the worker whose init failed. */
  readonly workerIndex: number;
  /**
   * Build the error of a worker whose init failed.
   *
   * @param workerIndex the worker that failed
   * @param cause its error (rebuilt with the worker's stack)
   * @param init the init arguments the worker was given (the message's received value)
   */
  constructor(workerIndex: number, cause: Error, init?: unknown) {
    super(
      "start worker pool",
      `worker ${workerIndex} failed to initialise: ${summary(cause)}`,
      { received: init, cause },
    );
    this.workerIndex = workerIndex;
    const stack = workerStackOf(cause);
    if (stack) this.stack = `${this.stack}\nCaused by (in worker ${workerIndex}): ${stack}`;
  }
}

/**
 * A worker's `dispose` failed while the pool closed. `close()` still stops every worker, then
 * rejects with this error (the first one, when several failed); `cause` is the worker's error,
 * rebuilt with its class, and its stack ends `stack`. The message's received value is the worker
 * (`received worker 0`); `received` holds its index.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WorkerDisposeError } from "@spool/spool";
 * const err = new WorkerDisposeError(0, new RangeError("flush failed"));
 * assert.equal(
 *   err.message,
 *   "Cannot dispose of a worker: dispose() threw RangeError: flush failed, received worker 0",
 * );
 * ```
 */
export class WorkerDisposeError extends SpoolError {
  /** Index of the worker whose dispose failed. */
  readonly workerIndex: number;
  /**
   * Build the error of a worker whose dispose failed.
   *
   * @param workerIndex the worker that failed
   * @param cause its error (rebuilt with the worker's stack)
   */
  constructor(workerIndex: number, cause: Error) {
    super("dispose of a worker", `dispose() threw ${summary(cause)}`, {
      received: workerIndex,
      shown: `worker ${workerIndex}`,
      cause,
    });
    this.workerIndex = workerIndex;
    const stack = workerStackOf(cause);
    if (stack) this.stack = `${this.stack}\nCaused by (in worker ${workerIndex}): ${stack}`;
  }
}

/**
 * A value cannot cross to (or back from) a worker: a function, a symbol, a class the transport
 * cannot copy. `path` names the part that cannot be sent (`init.f`, `input.items[2]`,
 * `result.handle`); `cause` is the transport's own error (a `DataCloneError`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CloneError } from "@spool/spool";
 * const err = new CloneError("start worker pool", "init.f", "cannot be sent to worker 0: a function cannot be copied to another worker", function f() {});
 * assert.ok(err.path === "init.f" && /^Cannot start worker pool: init\.f cannot be sent/.test(err.message));
 * assert.ok(err.message.endsWith(", received function f"));
 * ```
 */
export class CloneError extends SpoolError {
  /** Where the value that cannot be sent sits, from the root (`init`, `input` or `result`). */
  readonly path: string;
  /**
   * Build the error of a value that cannot be sent.
   *
   * @param action what was attempted ("start worker pool", "send input #3 to worker 1")
   * @param path where the offending value is (`init.f`)
   * @param reason what is wrong with it, after the path
   * @param received the offending value (always in the message: `received undefined` when not
   *   given)
   * @param options the transport's error as `cause`
   */
  constructor(
    action: string,
    path: string,
    reason: string,
    received?: unknown,
    options?: ErrorOptions,
  ) {
    super(action, `${path} ${reason}`, { received, ...options });
    this.path = path;
  }
}

registerSpoolErrors(
  SpoolError,
  InternalError,
  InvalidArgumentError,
  ClosedError,
  AbortedError,
  TimeoutError,
  CloneError,
  TaskError,
  WorkerCrashError,
  WorkerInitError,
  WorkerDisposeError,
);
