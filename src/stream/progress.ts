/**
 * `progress`: pass items through while reporting count, rate and ETA.
 *
 * @module
 */

import type { Stage } from "./types.ts";
import { assertInteger, assertNumber, InvalidArgumentError } from "../errors.ts";
import { optionalBoolean, optionalFunction } from "../_internal/options.ts";
import { AbortLink, checkSignal } from "../_internal/abort.ts";
import { checkOptions } from "../_internal/options.ts";
import { closeQuietly, iteratorOf, nextOf, resultOf } from "../_internal/iterate.ts";
import { type AnyIterable, lengthOf, withLength } from "./sized.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

/** Options of {@linkcode progress}. */
export interface ProgressOptions {
  /** Expected number of items; default: the source's `length`, if any. */
  total?: number;
  /** Shown before the figures (default `"progress"`). */
  label?: string;
  /** Where text goes (default: standard error). Receives complete render strings. */
  output?: (text: string) => void;
  /**
   * Render an in-place bar (`\r` + erase line) instead of plain lines. Default: whether
   * standard error is a terminal, when `output` is not given; `false` otherwise.
   */
  tty?: boolean;
  /** Minimum time between renders in ms (default 100 on a terminal, 2000 otherwise). */
  intervalMs?: number;
  /** Clock in ms (default `performance.now`); tests inject a fake one. */
  now?: () => number;
  /** Width of the bar in characters on a terminal (default 24). */
  barWidth?: number;
  /**
   * Aborting it ends the iteration with `AbortedError` (even while the source's `next()` is
   * pending), prints the `aborted after` line and returns the source without waiting for it.
   */
  signal?: AbortSignal;
}

const KNOWN: (keyof ProgressOptions)[] = [
  "total",
  "label",
  "output",
  "tty",
  "intervalMs",
  "now",
  "barWidth",
  "signal",
];

const ACTION = "report progress";

/** `1234567` → `"1.23M"`, `5230` → `"5.23k"`, `12` → `"12"`. */
function short(n: number): string {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return n >= 100 ? n.toFixed(0) : n.toFixed(n === Math.floor(n) ? 0 : 1);
}

/** Seconds → `"m:ss"` or `"h:mm:ss"`. */
function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function defaultOutput(): (text: string) => void {
  const encoder = new TextEncoder();
  return (text) => {
    const bytes = encoder.encode(text);
    let off = 0;
    while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
  };
}

class Progress<T> implements Stage<T> {
  readonly #it: AsyncIterator<T>;
  readonly #total: number | undefined;
  readonly #label: string;
  readonly #out: (text: string) => void;
  readonly #tty: boolean;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #width: number;
  readonly #link: AbortLink;
  #count = 0;
  #start = -1;
  #last = 0;
  #finished = false;

  constructor(
    source: AnyIterable<T>,
    total: number | undefined,
    label: string,
    out: (text: string) => void,
    tty: boolean,
    interval: number,
    now: () => number,
    width: number,
    signal: AbortSignal | undefined,
  ) {
    this.#it = iteratorOf(ACTION, source);
    this.#link = new AbortLink(ACTION, signal);
    this.#total = total;
    this.#label = label;
    this.#out = out;
    this.#tty = tty;
    this.#interval = interval;
    this.#now = now;
    this.#width = width;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.#finished) return { done: true, value: undefined };
    if (this.#start < 0) {
      try {
        this.#start = this.#last = this.#now();
        if (this.#tty) this.#out(this.#bar(this.#start));
      } catch (error) {
        return await this.#abandon(error);
      }
    }
    let r: IteratorResult<T>;
    try {
      this.#link.throwIfAborted();
      r = resultOf<T>(ACTION, await this.#link.race(nextOf(this.#it)));
    } catch (error) {
      if (this.#finished) return { done: true, value: undefined }; // returned meanwhile
      if (this.#link.aborted) {
        this.#finish("aborted");
        void closeQuietly(this.#it); // its pending next() may never settle
      } else {
        this.#finish("failed");
      }
      throw error;
    }
    if (r.done) {
      this.#finish("done");
      return r;
    }
    this.#count++;
    try {
      const t = this.#now();
      if (t - this.#last >= this.#interval) {
        this.#last = t;
        this.#out(this.#tty ? this.#bar(t) : this.#line(t));
      }
    } catch (error) {
      return await this.#abandon(error);
    }
    if (turnDue()) await giveTurn(); // the item is taken: a later next() cannot overtake it
    return r;
  }

  /**
   * The user's `output` or clock threw: the stage ends, the source is returned (quietly: this
   * error is the one reported) and the error rethrown.
   */
  async #abandon(error: unknown): Promise<never> {
    this.#finished = true;
    this.#link.detach();
    await closeQuietly(this.#it);
    throw error;
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    if (!this.#finished) {
      this.#finish("stopped");
      await this.#it.return?.();
    }
    return { done: true, value: value as T };
  }

  /** Same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  #rate(t: number): number {
    const seconds = (t - this.#start) / 1000;
    return seconds > 0 ? this.#count / seconds : 0;
  }

  #bar(t: number): string {
    const total = this.#total;
    const rate = this.#rate(t);
    const elapsed = clock((t - this.#start) / 1000);
    if (total === undefined) {
      return `\r\x1b[2K${this.#label} ${short(this.#count)} items ${short(rate)}/s ${elapsed}`;
    }
    const frac = total > 0 ? Math.min(1, this.#count / total) : 1;
    const full = Math.round(frac * this.#width);
    const bar = "█".repeat(full) + "░".repeat(this.#width - full);
    const eta = rate > 0 ? clock((total - this.#count) / rate) : "?";
    return `\r\x1b[2K${this.#label} ${bar} ${this.#count}/${total} ${(frac * 100).toFixed(1)}% ` +
      `${short(rate)}/s ETA ${eta}`;
  }

  #line(t: number): string {
    const total = this.#total;
    const rate = this.#rate(t);
    if (total === undefined) {
      return `${this.#label}: ${this.#count} items, ${short(rate)} items/s, ` +
        `${clock((t - this.#start) / 1000)} elapsed\n`;
    }
    const pct = total > 0 ? Math.min(100, (this.#count / total) * 100) : 100;
    const eta = rate > 0 ? clock((total - this.#count) / rate) : "?";
    return `${this.#label}: ${this.#count}/${total} (${pct.toFixed(1)}%), ${
      short(rate)
    } items/s, ` +
      `ETA ${eta}\n`;
  }

  #finish(how: "done" | "failed" | "stopped" | "aborted"): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#link.detach();
    try {
      this.#summary(how);
    } catch (error) {
      // At the end of the source the user's output/clock error is reported; on a failure, an
      // abort or a stop the first error (or the return) matters more.
      if (how === "done") throw error;
    }
  }

  #summary(how: "done" | "failed" | "stopped" | "aborted"): void {
    const t = this.#now();
    if (this.#start < 0) this.#start = t;
    const seconds = (t - this.#start) / 1000;
    const rate = this.#rate(t);
    const summary = `${this.#count} items in ${seconds.toFixed(1)}s (${short(rate)} items/s)`;
    const text = how === "done"
      ? `${this.#label}: done, ${summary}\n`
      : `${this.#label}: ${how} after ${summary}\n`;
    this.#out(this.#tty ? this.#bar(t) + "\n" + text : text);
  }
}

/**
 * Pass the items of `source` through unchanged while reporting progress: count/total,
 * percent, rate (items/s) and ETA.
 *
 * On a terminal it redraws one line in place (a bar), at most every `intervalMs` (100 ms);
 * otherwise it prints a plain line at most every `intervalMs` (2 s). A final line says how the
 * run ended (`done`, `failed after`, `stopped after`), with the count, time and rate. Renders
 * happen on item arrival (a clock check per item): no timer is ever left behind. The total is
 * `total` or the source's `length`; the result keeps that `length`.
 *
 * @param source any sync or async iterable
 * @param options `total`, `label`, `output`, `tty`, `intervalMs`, `now`, `barWidth`, `signal`
 * @returns an async iterable iterator of the same items
 * @throws {InvalidArgumentError} for bad options
 *
 * @example
 * ```ts
 * import { progress } from "@spool/spool";
 * import assert from "node:assert/strict";
 *
 * const log: string[] = [];
 * let sum = 0;
 * for await (const x of progress([1, 2, 3], { label: "rows", output: (t) => log.push(t) })) sum += x;
 * assert.equal(sum, 6);
 * assert.ok(log.at(-1)!.startsWith("rows: done, 3 items"));
 * ```
 */
export function progress<T>(
  source: AnyIterable<T>,
  options?: ProgressOptions,
): Stage<T> {
  const o = checkOptions<ProgressOptions>(ACTION, options, KNOWN);
  const total = o.total === undefined
    ? lengthOf(source)
    : assertInteger(ACTION, "total", o.total, 0);
  if (o.label !== undefined && typeof o.label !== "string") {
    throw new InvalidArgumentError(ACTION, "label must be a string", { received: o.label });
  }
  const output = optionalFunction<(text: string) => void>(ACTION, "output", o.output);
  const now = optionalFunction<() => number>(ACTION, "now", o.now);
  const signal = checkSignal(ACTION, o.signal);
  const tty = optionalBoolean(ACTION, "tty", o.tty) ??
    (output === undefined && Deno.stderr.isTerminal());
  const interval = o.intervalMs === undefined
    ? (tty ? 100 : 2000)
    : assertNumber(ACTION, "intervalMs", o.intervalMs, 0);
  const width = o.barWidth === undefined ? 24 : assertInteger(ACTION, "barWidth", o.barWidth, 1);
  const p = new Progress(
    source,
    total,
    o.label ?? "progress",
    output ?? defaultOutput(),
    tty,
    interval,
    now ?? (() => performance.now()),
    width,
    signal,
  );
  return withLength(p, lengthOf(source) ?? total);
}
