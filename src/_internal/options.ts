/**
 * Option validation written once: every public entry point checks its options object with these,
 * so a typo never passes (unknown keys are refused with the list of known ones), wrong types are
 * named, and a value that would disable a guarantee is refused where it is read.
 *
 * Messages follow the project's form `Cannot <action>: <reason>, received <value>`.
 *
 * @module
 */

import { describe, InvalidArgumentError } from "../errors.ts";

/** A plain options bag as read: any key may hold anything until it is checked. */
export type Bag = Record<string, unknown>;

/** True when `value` is a non-null object that is not an array. */
export function isRecord(value: unknown): value is Bag {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * The keys of `options` that are not in `known` (own enumerable keys; keys whose value is
 * `undefined` count too: `{ consumes: undefined }` is still a typo).
 */
export function unknownKeys(options: object, known: readonly string[]): string[] {
  const out: string[] = [];
  for (const key of Object.keys(options)) if (!known.includes(key)) out.push(key);
  return out;
}

/** The reason text for unknown keys: `unknown option "consumes" (known: a, b, c)`. */
export function unknownKeysReason(
  unknown: readonly string[],
  known: readonly string[],
  what = "option",
): string {
  const names = unknown.map((k) => JSON.stringify(k)).join(", ");
  const plural = unknown.length > 1 ? "s" : "";
  return `unknown ${what}${plural} ${names} (known: ${known.join(", ") || "none"})`;
}

/**
 * Throw {@linkcode InvalidArgumentError} when `options` has a key not in `known`.
 *
 * @param action what was attempted ("create a batch")
 * @param options the options object (already known to be an object)
 * @param known the accepted keys
 * @param what the word for a key in the message ("option", "key", "node field")
 */
export function checkKeys(
  action: string,
  options: object,
  known: readonly string[],
  what = "option",
): void {
  const unknown = unknownKeys(options, known);
  if (unknown.length > 0) {
    throw new InvalidArgumentError(action, unknownKeysReason(unknown, known, what), {
      received: options,
    });
  }
}

/**
 * Check that `options` is undefined or a plain object with only `known` keys, and return it as a
 * bag (`{}` when undefined).
 */
export function optionsOf(action: string, options: unknown, known: readonly string[]): Bag {
  if (options === undefined) return {};
  if (!isRecord(options)) {
    throw new InvalidArgumentError(action, "options must be an object", { received: options });
  }
  checkKeys(action, options, known);
  return options;
}

/** `value` when it is undefined or one of `allowed`, else {@linkcode InvalidArgumentError}. */
export function optionalOneOf<T extends string | number | boolean>(
  action: string,
  name: string,
  value: unknown,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) {
    const list = allowed.map((a) => typeof a === "string" ? JSON.stringify(a) : String(a));
    throw new InvalidArgumentError(action, `${name} must be one of ${list.join(", ")}`, {
      received: value,
    });
  }
  return value as T;
}

/** `value` when it is undefined or a boolean, else {@linkcode InvalidArgumentError}. */
export function optionalBoolean(action: string, name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") {
    throw new InvalidArgumentError(action, `${name} must be a boolean`, { received: value });
  }
  return value;
}

/** `value` when it is undefined or a function, else {@linkcode InvalidArgumentError}. */
export function optionalFunction<F extends (...args: never[]) => unknown>(
  action: string,
  name: string,
  value: unknown,
): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    throw new InvalidArgumentError(action, `${name} must be a function`, { received: value });
  }
  return value as F;
}

/** `value` when it is undefined or a non-empty string, else {@linkcode InvalidArgumentError}. */
export function optionalString(action: string, name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0) {
    throw new InvalidArgumentError(action, `${name} must be a non-empty string`, {
      received: value,
    });
  }
  return value;
}

/** One problem found while checking a description: where, what is wrong, and what was there. */
export interface Problem {
  /** Where the problem is, as a path: `nodes.parse.consume`, `sources.0.files`. */
  path: string;
  /** What is wrong. */
  reason: string;
  /** The offending value. */
  received: unknown;
}

/**
 * Collects every problem of a larger description (a JSON pipeline, a graph) so they are reported
 * at once rather than one per run.
 *
 * @example
 * ```ts ignore
 * const problems = new Problems();
 * if (typeof spec.fn !== "function") problems.add("nodes.parse.fn", "must be a function", spec.fn);
 * problems.throwIfAny("load the pipeline description");
 * ```
 */
export class Problems {
  /** The problems found so far, in the order found. */
  readonly list: Problem[] = [];

  /** Record one problem. */
  add(path: string, reason: string, received: unknown): void {
    this.list.push({ path, reason, received });
  }

  /** Record unknown keys of `bag` at `path` (one problem naming all of them). */
  keys(path: string, bag: object, known: readonly string[], what = "key"): void {
    const unknown = unknownKeys(bag, known);
    if (unknown.length > 0) this.add(path, unknownKeysReason(unknown, known, what), bag);
  }

  /** Number of problems. */
  get size(): number {
    return this.list.length;
  }

  /**
   * Throw one {@linkcode InvalidArgumentError} listing every problem (`received` is the list),
   * or return when there is none.
   */
  throwIfAny(action: string): void {
    if (this.list.length === 0) return;
    const first = this.list[0]!;
    if (this.list.length === 1) {
      throw new InvalidArgumentError(action, `${first.path}: ${first.reason}`, {
        received: first.received,
      });
    }
    const lines = this.list.map((p) => `${p.path}: ${p.reason} (received ${describe(p.received)})`);
    throw new InvalidArgumentError(
      action,
      `${this.list.length} problems: ${lines.join("; ")}`,
      { received: this.list },
    );
  }
}

/** `value` when it is undefined or an `AbortSignal`, else {@linkcode InvalidArgumentError}. */
export function optionalSignal(
  action: string,
  name: string,
  value: unknown,
): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) {
    throw new InvalidArgumentError(action, `${name} must be an AbortSignal`, { received: value });
  }
  return value;
}

/**
 * Check an options object with the project's one mechanism (`optionsOf` of
 * src/_internal/options.ts: undefined or a plain object, no unknown key, the known ones listed)
 * and return it typed as read.
 */
export function checkOptions<O extends object>(
  action: string,
  options: unknown,
  known: readonly (keyof O & string)[],
): Partial<O> {
  return optionsOf(action, options, known) as Partial<O>;
}
