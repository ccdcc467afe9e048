/**
 * The checks a description's objects share (strings, integers, one-of, objects, kinded objects,
 * function references), each recording its problem instead of throwing.
 *
 * @module
 */

import { isRecord, type Problems } from "../_internal/options.ts";

/** Every key of a kinded object (the union of its kinds' keys, first-seen order). */
export function allKeys(kinds: Record<string, readonly string[]>): string[] {
  return [...new Set(Object.values(kinds).flat())];
}

/** `.name` for a name that reads as a path segment, else `["name"]`. */
export function pathSegment(name: string): string {
  return /^[A-Za-z_$][\w$-]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/** Checks of one description, every problem recorded (see {@linkcode checkDescription}). */
export class Checker {
  constructor(readonly problems: Problems) {}

  string(path: string, value: unknown, required = false): boolean {
    if (value === undefined && !required) return true;
    if (typeof value !== "string" || value.length === 0) {
      this.problems.add(
        path,
        value === undefined ? "is required" : "must be a non-empty string",
        value,
      );
      return false;
    }
    return true;
  }

  integer(path: string, value: unknown, min: number): void {
    if (value === undefined) return;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
      this.problems.add(path, `must be an integer >= ${min}`, value);
    }
  }

  boolean(path: string, value: unknown): void {
    if (value !== undefined && typeof value !== "boolean") {
      this.problems.add(path, "must be a boolean", value);
    }
  }

  oneOf(path: string, value: unknown, allowed: readonly unknown[]): void {
    if (value !== undefined && !allowed.includes(value)) {
      this.problems.add(
        path,
        `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`,
        value,
      );
    }
  }

  record(path: string, value: unknown, what: string): value is Record<string, unknown> {
    if (isRecord(value)) return true;
    this.problems.add(path, `must be an object (${what})`, value);
    return false;
  }

  /** The kind of a kinded object: the one discriminating key it has, or undefined. */
  kind(
    path: string,
    value: Record<string, unknown>,
    kinds: Record<string, readonly string[]>,
    what: string,
  ): string | undefined {
    const present = Object.keys(kinds).filter((k) => value[k] !== undefined);
    if (present.length === 1) {
      this.problems.keys(path, value, kinds[present[0]!]!);
      return present[0];
    }
    const names = Object.keys(kinds).join(", ");
    if (present.length === 0) {
      // A typo of the kind's key ("file" for "files") is reported as that unknown key.
      const before = this.problems.size;
      this.problems.keys(path, value, allKeys(kinds));
      if (this.problems.size === before) {
        this.problems.add(path, `${what} needs one of ${names}`, value);
      }
    } else this.problems.add(path, `${what} takes only one of ${names}`, present);
    return undefined;
  }

  functionRef(path: string, value: unknown, known: readonly string[]): void {
    if (!isRecord(value)) {
      this.problems.add(
        path,
        "must be a function: an object {module, export?} naming a module and its exported function",
        value,
      );
      return;
    }
    this.problems.keys(path, value, known);
    this.string(`${path}.module`, value.module, true);
    this.string(`${path}.export`, value.export);
    if (value.args !== undefined && !Array.isArray(value.args)) {
      this.problems.add(`${path}.args`, "must be an array", value.args);
    }
  }
}
