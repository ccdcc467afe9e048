/**
 * Typed errors shared by every spool module.
 *
 * Every message has the form `Cannot <action>: <reason>, received <value>` so a
 * user reading a log line knows what was attempted, why it failed and with what.
 *
 * @module
 */

/** Longest rendering of an object in a message (before the `...`). */
const SHOWN = 80;

/** Thrown by {@linkcode boundedJson}'s replacer to stop once enough text is written. */
const ENOUGH = Symbol("enough");

/**
 * `JSON.stringify(value)`, but it gives up after about {@linkcode SHOWN} characters' worth of
 * values, so a huge object (a failed input of a million rows) costs a few steps, not a full
 * serialization; then the value is shown shallowly (`{"rows":array(1000000),...}`).
 */
function boundedJson(value: object): string | undefined {
  let budget = SHOWN;
  try {
    return JSON.stringify(value, function (key, v) {
      budget -= key.length + 3;
      if (v === null || typeof v !== "object") budget -= String(v).length;
      if (budget < 0) throw ENOUGH;
      return v;
    });
  } catch (error) {
    if (error !== ENOUGH) throw error;
    return shallow(value);
  }
}

/** One level of `value`: its first keys, nested objects summarised. */
function shallow(value: object): string {
  const out: string[] = [];
  let length = 0;
  for (const key in value) {
    const v: unknown = (value as Record<string, unknown>)[key];
    const shown = Array.isArray(v)
      ? `array(${v.length})`
      : v !== null && typeof v === "object"
      ? "{...}"
      : typeof v === "string" && v.length > 20
      ? JSON.stringify(v.slice(0, 17) + "...")
      : typeof v === "bigint"
      ? `${v}n`
      : JSON.stringify(v) ?? String(v);
    const entry = `${JSON.stringify(key)}:${shown}`;
    length += entry.length + 1;
    if (length > SHOWN) {
      out.push("...");
      break;
    }
    out.push(entry);
  }
  return `{${out.join(",")}}`;
}

/** Render a value for an error message: short, single line, never throws. */
export function describe(value: unknown): string {
  try {
    if (typeof value === "string") {
      return JSON.stringify(value.length > 80 ? value.slice(0, 77) + "..." : value);
    }
    if (typeof value === "bigint") return `${value}n`;
    if (typeof value === "function") return `function ${value.name || "(anonymous)"}`;
    if (value instanceof Error) return `${value.name}: ${value.message}`;
    if (ArrayBuffer.isView(value)) {
      return `${value.constructor.name}(${
        (value as { length?: number }).length ?? value.byteLength
      })`;
    }
    if (Array.isArray(value)) return `array(${value.length})`;
    if (value !== null && typeof value === "object") {
      const name = value.constructor?.name;
      const json = boundedJson(value);
      const shown = json && json.length > SHOWN ? json.slice(0, SHOWN - 3) + "..." : json;
      return name && name !== "Object" ? `${name} ${shown ?? ""}`.trim() : shown ?? String(value);
    }
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * What an error was given besides its action and reason: the offending value, shown in the
 * message as `, received <value>` only when the key is present (so `{ received: undefined }`
 * still reads "received undefined"), and the standard `cause`.
 */
export interface SpoolErrorOptions {
  /** The offending value, kept as is and rendered with {@linkcode describe}. */
  received?: unknown;
  /** The error that caused this one (`Error.cause`). */
  cause?: unknown;
  /**
   * How the message shows `received`, when {@linkcode describe} would not say enough (a bare
   * `3` where the reader needs `worker 3`). The `received` field keeps the value itself.
   */
  shown?: string;
}

/**
 * Base class of every error spool throws on purpose.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpoolError, InvalidArgumentError } from "@spool/spool";
 * const err = new InvalidArgumentError("create a batch", "size must be a positive integer", {
 *   received: 0,
 * });
 * assert.ok(err instanceof SpoolError);
 * assert.ok(err.message === "Cannot create a batch: size must be a positive integer, received 0");
 * assert.equal(new SpoolError("open", "it is closed").message, "Cannot open: it is closed");
 * ```
 */
export class SpoolError extends Error {
  /** What was being attempted, e.g. `"load snapshot"`. */
  readonly action: string;
  /** Why it failed. */
  readonly reason: string;
  /** The offending value (kept as is, not stringified); `undefined` when none was given. */
  readonly received: unknown;

  /**
   * Build an error whose message reads `Cannot <action>: <reason>, received <value>`.
   *
   * @param action what was attempted ("load snapshot")
   * @param reason why it failed ("checksum mismatch in file state.bin")
   * @param options the offending value (`received`, rendered with {@linkcode describe}) and the
   *   `cause`
   */
  constructor(action: string, reason: string, options?: SpoolErrorOptions) {
    const received = options === undefined
      ? ""
      : options.shown !== undefined
      ? `, received ${options.shown}`
      : "received" in options
      ? `, received ${describe(options.received)}`
      : "";
    super(
      `Cannot ${action}: ${reason}${received}`,
      options !== undefined && "cause" in options ? { cause: options.cause } : undefined,
    );
    this.name = new.target.name;
    this.action = action;
    this.reason = reason;
    this.received = options?.received;
  }
}

/**
 * A broken invariant inside spool: a bug in spool, not a mistake of the caller. The message
 * names the invariant; please report it with the stack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InternalError, SpoolError } from "@spool/spool";
 * const err = new InternalError("release ordered results", "result 3 arrived where 2 was due");
 * assert.ok(err instanceof SpoolError);
 * assert.match(err.message, /^Cannot release ordered results: result 3 arrived where 2 was due/);
 * assert.match(err.message, /this is a bug in spool/);
 * ```
 */
export class InternalError extends SpoolError {
  /**
   * Build the error of a broken invariant; the reason gets a note that this is a bug in spool.
   *
   * @param action what spool was doing
   * @param reason which invariant broke
   * @param options the value that broke it and the cause, if any
   */
  constructor(action: string, reason: string, options?: SpoolErrorOptions) {
    super(action, `${reason} (this is a bug in spool, please report it)`, options);
  }
}

/** A bad argument: wrong type, out of range, inconsistent options. */
export class InvalidArgumentError extends SpoolError {}

/** An operation on something already closed, finished or disposed. */
export class ClosedError extends SpoolError {}

/** An operation cancelled through an `AbortSignal`. The signal's reason is the `cause`. */
export class AbortedError extends SpoolError {}

/** An operation that did not finish within its time limit. */
export class TimeoutError extends SpoolError {}

/**
 * Throw {@linkcode InvalidArgumentError} unless `value` is an integer >= `min` (and <= `max`
 * when `max` is given).
 */
export function assertInteger(
  action: string,
  name: string,
  value: unknown,
  min = 1,
  max = Infinity,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}`;
    throw new InvalidArgumentError(action, `${name} must be an integer ${range}`, {
      received: value,
    });
  }
  return value;
}

/** Throw {@linkcode InvalidArgumentError} unless `value` is a finite number >= `min`. */
export function assertNumber(action: string, name: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new InvalidArgumentError(action, `${name} must be a finite number >= ${min}`, {
      received: value,
    });
  }
  return value;
}
