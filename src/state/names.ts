/**
 * Validation of component and file names inside a snapshot.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$/;

/** Names that cannot be used because the snapshot itself uses them. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(["manifest.json"]);

/** `true` when `name` is a valid component or file name (see {@linkcode assertName}). */
export function isValidName(name: unknown): name is string {
  return typeof name === "string" && NAME.test(name) && !name.includes("..") &&
    !RESERVED_NAMES.has(name);
}

/**
 * Throw {@linkcode InvalidArgumentError} unless `name` is a safe single path segment:
 * 1-128 characters of `A-Z a-z 0-9 _ . -`, not starting with a dot or a dash, no `..`,
 * and not a reserved name (`manifest.json`).
 */
export function assertName(action: string, what: string, name: unknown): string {
  if (typeof name !== "string") {
    throw new InvalidArgumentError(action, `${what} must be a string`, { received: name });
  }
  if (!isValidName(name)) {
    throw new InvalidArgumentError(
      action,
      `${what} must be 1-128 characters of A-Z a-z 0-9 _ . - without a leading dot or dash, ` +
        `path separators, ".." or the reserved name "manifest.json"`,
      { received: name },
    );
  }
  return name;
}
