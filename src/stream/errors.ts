/**
 * Typed errors of the stream area.
 *
 * @module
 */

import { SpoolError } from "../errors.ts";

/**
 * A line of NDJSON input is not valid JSON. `line` is its 1-based number in the source (blank
 * lines count), `text` the offending line (cut to 200 characters), `cause` the `SyntaxError`.
 */
export class NdjsonParseError extends SpoolError {
  /** 1-based line number of the bad line. */
  readonly line: number;
  /** The bad line (at most 200 characters). */
  readonly text: string;

  /**
   * Build the error for a bad NDJSON line.
   *
   * @param line 1-based line number
   * @param text the line that failed to parse
   * @param cause the parser's error
   */
  constructor(line: number, text: string, cause: unknown) {
    super(
      "parse NDJSON",
      `line ${line} is not valid JSON (${cause instanceof Error ? cause.message : String(cause)})`,
      { received: text.length > 200 ? text.slice(0, 200) : text, cause },
    );
    this.line = line;
    this.text = text.length > 200 ? text.slice(0, 200) : text;
  }
}

/**
 * A file a stream stage reads or writes cannot be used: it does not exist, is a directory, or
 * access is denied (by the OS or by Deno's permissions). `path` is the file as given, `cause`
 * the runtime's error (`Deno.errors.NotFound`, `PermissionDenied`, `NotCapable`, ...).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileAccessError, lines } from "@spool/spool";
 *
 * await assert.rejects(async () => {
 *   for await (const _ of lines("/no/such/dir/input.txt")) break;
 * }, (e: unknown) => e instanceof FileAccessError && e.path === "/no/such/dir/input.txt");
 * ```
 */
export class FileAccessError extends SpoolError {
  /** The path as given (a `URL` is shown as its string). */
  readonly path: string;

  /**
   * Build the error for a file that cannot be used.
   *
   * @param action what was attempted ("read lines")
   * @param reason why, e.g. "the file does not exist"
   * @param path the file
   * @param cause the runtime's error
   */
  constructor(action: string, reason: string, path: string | URL, cause?: unknown) {
    const shown = path instanceof URL ? path.href : path;
    super(action, reason, cause === undefined ? { received: shown } : { received: shown, cause });
    this.path = shown;
  }
}

/**
 * The {@linkcode FileAccessError} for a runtime error on `path`, or `error` itself when it is not
 * one of the "cannot use this file" kinds (an I/O error mid-read stays as it is).
 */
export function fileAccessError(action: string, path: string | URL, error: unknown): unknown {
  if (error instanceof Deno.errors.NotFound) {
    return new FileAccessError(action, "the file does not exist", path, error);
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return new FileAccessError(action, "the path is a directory, not a file", path, error);
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return new FileAccessError(action, "a parent of the path is not a directory", path, error);
  }
  if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
    return new FileAccessError(action, `permission denied (${error.message})`, path, error);
  }
  return error;
}
