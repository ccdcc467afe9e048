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
      text.length > 200 ? text.slice(0, 200) : text,
      { cause },
    );
    this.line = line;
    this.text = text.length > 200 ? text.slice(0, 200) : text;
  }
}
