/**
 * The worker side of the pool, shared by the thread and the process backends: load the user's
 * module, build the state, run chunks in order, batch the replies, report crashes.
 *
 * @module
 */

import { type AnyWorkerDefinition, checkDefinition } from "./define.ts";
import { InvalidArgumentError } from "../errors.ts";
import { CloneError, encodeError, findUnsendable, unsendableReason } from "./errors.ts";
import {
  collectTransferables,
  type ControlMessage,
  type InitMessage,
  ISOLATE,
  RUN,
  SPREAD,
  TRANSFER,
  type WireChunk,
  type WireReply,
} from "./protocol.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

/** How the runtime talks to the pool. */
export interface Port {
  /** Send one message (with ArrayBuffers to transfer, threads only). */
  post(message: unknown, transfer?: Transferable[]): void;
  /** Register the message handler. */
  listen(handler: (message: unknown) => void): void;
  /** End this worker for good. */
  exit(code: number): void;
  /** Throw when `value` cannot be sent (the transport's encoder, without sending). */
  probe(value: unknown): void;
}

/** Replies are flushed when the worker runs out of queued chunks, or after this long. */
const FLUSH_MS = 2;

/** Serve the pool's requests on `port` until told to stop. */
export function serve(port: Port): void {
  let def: AnyWorkerDefinition | undefined;
  let state: unknown;
  let queue: WireChunk[] = [];
  let head = 0;
  let running = false;
  let current = -1;
  let replies: WireReply[] = [];
  let transfer: Transferable[] = [];
  let lastFlush = 0;
  let dead = false;
  let workerIndex = -1;

  /** A reply that cannot be sent: fail the results that cannot, with a CloneError naming them. */
  const sendable = (reply: WireReply): WireReply => {
    const values = reply[2];
    const errs = new Set(reply[3] === 0 ? [] : reply[3]);
    for (let i = 0; i < values.length; i++) {
      if (errs.has(i)) continue;
      const bad = findUnsendable(values[i], port.probe, "result");
      if (bad === undefined) continue;
      values[i] = encodeError(
        new CloneError(
          "send a result back to the pool",
          bad.path,
          `cannot be sent back from worker ${workerIndex}: ${
            unsendableReason(bad.value, bad.error)
          }`,
          bad.value,
          { cause: bad.error },
        ),
      );
      errs.add(i);
    }
    return [reply[0], reply[1], values, errs.size ? [...errs].sort((a, b) => a - b) : 0];
  };

  const flush = () => {
    if (replies.length === 0) return;
    const msg = [RUN, replies];
    const t = transfer;
    replies = [];
    transfer = [];
    try {
      port.post(msg, t.length ? t : undefined);
    } catch {
      // Some result cannot be sent: send chunk by chunk; in a chunk that still cannot be sent,
      // only the results that cannot are failed (the worker itself is fine).
      for (const reply of msg[1] as WireReply[]) {
        try {
          port.post([RUN, [reply]]);
        } catch (e) {
          try {
            port.post([RUN, [sendable(reply)]]);
          } catch {
            const n = reply[2].length;
            const err = encodeError(e);
            port.post([RUN, [[reply[0], reply[1], new Array(n).fill(err), [...Array(n).keys()]]]]);
          }
        }
      }
    }
  };

  const crash = (reason: string, error?: unknown) => {
    if (dead) return;
    dead = true;
    try {
      flush();
      const msg: ControlMessage = { t: "crash", chunk: current, reason };
      if (error !== undefined) msg.error = encodeError(error);
      port.post(msg);
    } catch { /* the port may already be gone */ }
  };

  // Report deaths the pool could not otherwise see (a thread that closes itself is silent).
  const g = globalThis as unknown as {
    close?: () => void;
    addEventListener: (type: string, fn: (e: Event) => void) => void;
  };
  const originalClose = g.close;
  if (typeof originalClose === "function") {
    g.close = () => {
      crash("the worker called self.close()");
      originalClose.call(globalThis);
    };
  }
  const originalExit = Deno.exit;
  (Deno as { exit: (code?: number) => never }).exit = (code?: number): never => {
    crash(`the worker called Deno.exit(${code ?? 0})`);
    return originalExit(code);
  };
  g.addEventListener("error", (e) => {
    e.preventDefault();
    const err = (e as ErrorEvent).error;
    crash(`uncaught error in the worker: ${err instanceof Error ? err.message : String(err)}`, err);
    port.exit(1);
  });
  g.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    const err = (e as PromiseRejectionEvent).reason;
    crash(
      `unhandled rejection in the worker: ${err instanceof Error ? err.message : String(err)}`,
      err,
    );
    port.exit(1);
  });

  const drain = async () => {
    running = true;
    const proc = def!.process;
    while (head < queue.length && !dead) {
      const chunk = queue[head++]!;
      const [id, flags, items] = chunk;
      current = id;
      const spread = (flags & SPREAD) !== 0;
      const isolate = (flags & ISOLATE) !== 0;
      if (isolate) flush();
      const t0 = performance.now();
      const n = items.length;
      const out = new Array(n);
      let errs: number[] | 0 = 0;
      for (let i = 0; i < n; i++) {
        try {
          let r = spread ? proc(state, ...spreadOf(items[i])) : proc(state, items[i]);
          if (
            r !== null && typeof r === "object" &&
            typeof (r as PromiseLike<unknown>).then === "function"
          ) {
            r = await r;
            if (dead) return;
          }
          out[i] = r;
        } catch (e) {
          if (dead) return;
          (errs ||= []).push(i);
          out[i] = encodeError(e);
        }
        // A long synchronous chunk lets the pool's messages (stop) land between items.
        if (turnDue()) {
          await giveTurn();
          if (dead) return;
        }
      }
      const t1 = performance.now();
      replies.push([id, t1 - t0, out, errs]);
      if ((flags & TRANSFER) !== 0) collectTransferables(out, transfer, 3);
      if (isolate || head >= queue.length || t1 - lastFlush > FLUSH_MS) {
        lastFlush = t1;
        flush();
      }
    }
    queue = [];
    head = 0;
    current = -1;
    running = false;
    flush();
  };

  const init = async (m: InitMessage) => {
    const t0 = performance.now();
    try {
      workerIndex = m.index;
      const mod = await import(m.module);
      const d = mod[m.exportName] as AnyWorkerDefinition | undefined;
      if (d === null || typeof d !== "object" || typeof d.process !== "function") {
        throw new InvalidArgumentError(
          "load the worker module",
          `it has no export "${m.exportName}" with a process(state, input) function (use defineWorker)`,
          { received: m.module },
        );
      }
      checkDefinition(`load the worker module ${m.module}`, d);
      if (d.init === undefined && m.args !== undefined) {
        // the arguments would be dropped silently: the state would be undefined
        throw new InvalidArgumentError(
          "initialise the worker",
          `the module's "${m.exportName}" export has no init, so the init arguments given to ` +
            "the pool would be dropped (add an init(args) to the worker, or pass no init/perWorker)",
          { received: m.args },
        );
      }
      def = d;
      state = d.init
        ? await d.init(m.args, { index: m.index, size: m.size, kind: m.kind })
        : undefined;
      port.post({ t: "ready", initMs: performance.now() - t0 } satisfies ControlMessage);
    } catch (e) {
      port.post({ t: "initError", error: encodeError(e) } satisfies ControlMessage);
    }
  };

  const stop = async () => {
    let error;
    try {
      if (def?.dispose) await def.dispose(state);
    } catch (e) {
      error = encodeError(e);
    }
    dead = true;
    port.post({ t: "disposed", error } as ControlMessage);
    port.exit(0);
  };

  port.listen((msg) => {
    if (Array.isArray(msg)) {
      if (msg[0] === RUN) {
        const chunks = msg[1] as WireChunk[];
        for (let i = 0; i < chunks.length; i++) queue.push(chunks[i]!);
        if (!running) drain();
      }
      return;
    }
    const m = msg as InitMessage | { t: "stop" } | { t: "ping" };
    if (m.t === "init") init(m);
    else if (m.t === "stop") stop();
    else if (m.t === "ping") port.post({ t: "pong" } satisfies ControlMessage);
  });
}

/** The argument list of a `spread: true` input: an array, else an InvalidArgumentError. */
function spreadOf(item: unknown): unknown[] {
  if (Array.isArray(item)) return item;
  throw new InvalidArgumentError(
    "spread an input into process() arguments",
    "with spread: true each input must be an array of arguments",
    { received: item },
  );
}
