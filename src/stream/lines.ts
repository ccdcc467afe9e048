/**
 * `lines`: the lines of a text file, streamed, optionally following appended data (tail -f).
 *
 * @module
 */

import { assertInteger, assertNumber, InvalidArgumentError } from "../errors.ts";
import { optionalBoolean } from "../_internal/options.ts";
import { FileAccessError, fileAccessError } from "./errors.ts";
import { abortError, checkSignal } from "../_internal/abort.ts";
import { checkOptions } from "../_internal/options.ts";

/** Options of {@linkcode lines}. */
export interface LinesOptions {
  /**
   * Keep waiting for data appended to the file (like `tail -f`) instead of ending at its end.
   * The iteration then ends only when the consumer stops or the signal is aborted. A file that
   * shrinks (truncated, as log rotation does) is read again from its start.
   */
  follow?: boolean;
  /** Aborting it ends the iteration with `AbortedError` and closes the file. */
  signal?: AbortSignal;
  /** Text encoding (a `TextDecoder` label), default `"utf-8"`. */
  encoding?: string;
  /** With `follow`, how often to look for new data, in ms (default 100). */
  pollMs?: number;
  /** Bytes per read (default 65536). */
  chunkSize?: number;
}

const ACTION = "read lines";

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    // Aborted while a read was pending: an "abort" listener added now would never fire.
    if (signal?.aborted) return reject(abortError(ACTION, signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(ACTION, signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

async function* readLines(
  path: string | URL,
  follow: boolean,
  signal: AbortSignal | undefined,
  decoder: TextDecoder,
  pollMs: number,
  chunkSize: number,
): AsyncGenerator<string, void, undefined> {
  if (signal?.aborted) throw abortError(ACTION, signal);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw fileAccessError(ACTION, path, error);
  }
  try {
    // Opening a directory for reading succeeds on Linux; reading it would fail with EISDIR.
    if ((await file.stat()).isDirectory) {
      throw new FileAccessError(ACTION, "the path is a directory, not a file", path);
    }
    const buf = new Uint8Array(chunkSize);
    let rest = "";
    let position = 0;
    for (;;) {
      if (signal?.aborted) throw abortError(ACTION, signal);
      const n = await file.read(buf);
      if (n === null || n === 0) {
        if (!follow) break;
        await sleep(pollMs, signal);
        const { size } = await file.stat();
        if (size < position) { // truncated: start over
          await file.seek(0, Deno.SeekMode.Start);
          position = 0;
          rest = "";
        }
        continue;
      }
      position += n;
      const chunk = rest + decoder.decode(buf.subarray(0, n), { stream: true });
      let start = 0;
      let i: number;
      while ((i = chunk.indexOf("\n", start)) !== -1) {
        const end = i > start && chunk.charCodeAt(i - 1) === 13 ? i - 1 : i;
        yield chunk.slice(start, end);
        start = i + 1;
      }
      rest = start === 0 ? chunk : chunk.slice(start);
    }
    rest += decoder.decode();
    if (rest.length > 0) yield rest.endsWith("\r") ? rest.slice(0, -1) : rest;
  } finally {
    file.close();
  }
}

/**
 * The lines of the text file at `path`, read in chunks (never the whole file at once).
 *
 * Lines end with `\n` or `\r\n` (the terminator is removed); a last line without a newline is
 * kept. With `follow: true` the file is watched like `tail -f` (by polling every `pollMs`, which
 * works on every file system): appended lines are yielded as they are completed by a newline,
 * until the consumer stops (`break`) or `signal` is aborted. The file is closed and the poll
 * timer cleared in every case.
 *
 * @param path the file to read
 * @param options `follow`, `signal`, `encoding`, `pollMs`, `chunkSize`
 * @returns an async generator of lines
 * @throws {InvalidArgumentError} for a bad path, encoding or option
 * @throws {FileAccessError} (at the first `next()`) when the file does not exist, is a directory
 *   or cannot be read (OS or Deno permission), naming the path
 *
 * @example
 * ```ts
 * import { lines } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "first\r\nsecond\nthird");
 * const got: string[] = [];
 * for await (const line of lines(path)) got.push(line);
 * assert.equal(got.join("|"), "first|second|third");
 * await Deno.remove(path);
 * ```
 */
export function lines(
  path: string | URL,
  options?: LinesOptions,
): AsyncGenerator<string, void, undefined> {
  if (typeof path !== "string" && !(path instanceof URL)) {
    throw new InvalidArgumentError(ACTION, "path must be a string or a file URL", {
      received: path,
    });
  }
  const o = checkOptions<LinesOptions>(ACTION, options, [
    "follow",
    "signal",
    "encoding",
    "pollMs",
    "chunkSize",
  ]);
  const follow = optionalBoolean(ACTION, "follow", o.follow) ?? false;
  const signal = checkSignal(ACTION, o.signal);
  let decoder: TextDecoder;
  if (o.encoding !== undefined && typeof o.encoding !== "string") {
    throw new InvalidArgumentError(ACTION, "encoding must be a string", { received: o.encoding });
  }
  try {
    decoder = new TextDecoder(o.encoding ?? "utf-8");
  } catch (error) {
    throw new InvalidArgumentError(ACTION, "unknown text encoding", {
      received: o.encoding,
      cause: error,
    });
  }
  const pollMs = o.pollMs === undefined ? 100 : assertNumber(ACTION, "pollMs", o.pollMs, 1);
  const chunkSize = o.chunkSize === undefined
    ? 65536
    : assertInteger(ACTION, "chunkSize", o.chunkSize, 1);
  return readLines(path, follow, signal, decoder, pollMs, chunkSize);
}
