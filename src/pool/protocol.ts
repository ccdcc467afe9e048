/**
 * Messages between the pool (main side) and its workers. Hot-path messages are arrays.
 *
 * main -> worker: `[RUN, chunks]` with chunk = `[id, flags, items]`; objects for init/stop.
 * worker -> main: `[RESULTS, replies]` with reply = `[id, busyMs, values, errorPositions | 0]`
 * (a failed item's value is an EncodedError); objects for ready/initError/crash/disposed.
 *
 * @module
 */

import type { EncodedError } from "./errors.ts";

/** Tag of a batch of chunks (main -> worker) or of results (worker -> main). */
export const RUN = 0;
/** Flag bit: call `process(state, ...item)`. */
export const SPREAD = 1;
/** Flag bit: transfer ArrayBuffers found in results. */
export const TRANSFER = 2;
/**
 * Flag bit: flush pending replies before and after this chunk, so that if the worker dies
 * without a word (SIGKILL, OOM, timeout) the pool knows exactly which chunk was running.
 */
export const ISOLATE = 4;

/** One chunk on the wire: `[id, flags, items]`. */
export type WireChunk = [number, number, unknown[]];
/** One chunk's results on the wire: `[id, busyMs, values, errorPositions | 0]`. */
export type WireReply = [number, number, unknown[], number[] | 0];

/** Init message (main -> worker). */
export interface InitMessage {
  t: "init";
  module: string;
  exportName: string;
  args: unknown;
  index: number;
  size: number;
  kind: "worker" | "process";
}
/** Stop message (main -> worker): dispose the state, then exit. */
export interface StopMessage {
  t: "stop";
}
/** Ping (main -> worker): a worker whose event loop is free answers `pong` at once. */
export interface PingMessage {
  t: "ping";
}
/** Control messages (worker -> main). */
export type ControlMessage =
  | { t: "ready"; initMs: number }
  | { t: "initError"; error: EncodedError }
  | { t: "crash"; chunk: number; reason: string; error?: EncodedError }
  | { t: "disposed"; error?: EncodedError }
  | { t: "pong" };

/**
 * ArrayBuffers reachable from `value` (the value itself, a typed array's buffer, or one level of
 * array elements / object properties), without duplicates, appended to `out`.
 */
export function collectTransferables(value: unknown, out: Transferable[], depth = 2): void {
  if (value === null || typeof value !== "object") return;
  if (value instanceof ArrayBuffer) {
    if (!out.includes(value)) out.push(value);
    return;
  }
  if (ArrayBuffer.isView(value)) {
    const b = value.buffer;
    if (b instanceof ArrayBuffer && !out.includes(b)) out.push(b);
    return;
  }
  if (depth === 0) return;
  if (Array.isArray(value)) {
    for (const v of value) collectTransferables(v, out, depth - 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const k in value) {
      collectTransferables((value as Record<string, unknown>)[k], out, depth - 1);
    }
  }
}
