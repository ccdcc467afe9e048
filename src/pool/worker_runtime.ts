/**
 * The worker side of the pool, shared by the thread and the process backends: load the user's
 * module, build the state, run chunks in order, report crashes. Replies are batched by a
 * {@linkcode ReplyBatch} (`reply_batch.ts`).
 *
 * @module
 */

import { type AnyWorkerDefinition, checkDefinition } from "./define.ts";
import { InvalidArgumentError } from "../errors.ts";
import { encodeError } from "./errors.ts";
import {
  type ControlMessage,
  type InitMessage,
  ISOLATE,
  RUN,
  SPREAD,
  TRANSFER,
  type WireChunk,
} from "./protocol.ts";
import { ReplyBatch, type ReplyPort } from "./reply_batch.ts";
import { giveTurn, turnDue } from "../_internal/turn.ts";

/** How the runtime talks to the pool. */
export interface Port extends ReplyPort {
  /** Register the message handler. */
  listen(handler: (message: unknown) => void): void;
  /** End this worker for good. */
  exit(code: number): void;
}

/** Serve the pool's requests on `port` until told to stop. */
export function serve(port: Port): void {
  const runtime = new WorkerRuntime(port);
  runtime.reportDeaths();
  port.listen((message) => runtime.receive(message));
}

/** One worker's side of the pool: the user's definition and state, the chunk queue, replies. */
class WorkerRuntime {
  readonly #port: Port;
  readonly #replies: ReplyBatch;
  #definition: AnyWorkerDefinition | undefined;
  #state: unknown;
  #queue: WireChunk[] = [];
  #head = 0;
  #running = false;
  /** Id of the chunk running now (-1: none), named in a crash notice. */
  #current = -1;
  #dead = false;

  constructor(port: Port) {
    this.#port = port;
    this.#replies = new ReplyBatch(port);
  }

  /** Handle one message from the pool. */
  receive(message: unknown): void {
    if (Array.isArray(message)) {
      if (message[0] === RUN) {
        const chunks = message[1] as WireChunk[];
        const queue = this.#queue;
        for (let i = 0; i < chunks.length; i++) queue.push(chunks[i]!);
        if (!this.#running) this.#drain();
      }
      return;
    }
    const m = message as InitMessage | { t: "stop" } | { t: "ping" };
    if (m.t === "init") this.#init(m);
    else if (m.t === "stop") this.#stop();
    else if (m.t === "ping") this.#port.post({ t: "pong" } satisfies ControlMessage);
  }

  /** Report deaths the pool could not otherwise see (a thread that closes itself is silent). */
  reportDeaths(): void {
    const g = globalThis as unknown as {
      close?: () => void;
      addEventListener: (type: string, fn: (e: Event) => void) => void;
    };
    const originalClose = g.close;
    if (typeof originalClose === "function") {
      g.close = () => {
        this.#crash("the worker called self.close()");
        originalClose.call(globalThis);
      };
    }
    const originalExit = Deno.exit;
    (Deno as { exit: (code?: number) => never }).exit = (code?: number): never => {
      this.#crash(`the worker called Deno.exit(${code ?? 0})`);
      return originalExit(code);
    };
    g.addEventListener("error", (e) => {
      e.preventDefault();
      this.#crashUncaught("uncaught error", (e as ErrorEvent).error);
    });
    g.addEventListener("unhandledrejection", (e) => {
      e.preventDefault();
      this.#crashUncaught("unhandled rejection", (e as PromiseRejectionEvent).reason);
    });
  }

  /** An error nobody caught: report it, then end the worker. */
  #crashUncaught(what: string, error: unknown): void {
    this.#crash(
      `${what} in the worker: ${error instanceof Error ? error.message : String(error)}`,
      error,
    );
    this.#port.exit(1);
  }

  /** Send the batched replies, then a crash notice naming the running chunk (once). */
  #crash(reason: string, error?: unknown): void {
    if (this.#dead) return;
    this.#dead = true;
    try {
      this.#replies.flush();
      const msg: ControlMessage = { t: "crash", chunk: this.#current, reason };
      if (error !== undefined) msg.error = encodeError(error);
      this.#port.post(msg);
    } catch { /* the port may already be gone */ }
  }

  /** Run the queued chunks in order, item by item, batching their replies. */
  async #drain(): Promise<void> {
    this.#running = true;
    const proc = this.#definition!.process;
    const state = this.#state;
    const queue = this.#queue;
    const replies = this.#replies;
    while (this.#head < queue.length && !this.#dead) {
      const [id, flags, items] = queue[this.#head++]!;
      this.#current = id;
      const spread = (flags & SPREAD) !== 0;
      const isolate = (flags & ISOLATE) !== 0;
      if (isolate) replies.flush();
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
            if (this.#dead) return;
          }
          out[i] = r;
        } catch (e) {
          if (this.#dead) return;
          (errs ||= []).push(i);
          out[i] = encodeError(e);
        }
        // A long synchronous chunk lets the pool's messages (stop) land between items.
        if (turnDue()) {
          await giveTurn();
          if (this.#dead) return;
        }
      }
      const t1 = performance.now();
      replies.add([id, t1 - t0, out, errs], (flags & TRANSFER) !== 0);
      replies.flushDue(isolate || this.#head >= queue.length, t1);
    }
    this.#queue = [];
    this.#head = 0;
    this.#current = -1;
    this.#running = false;
    replies.flush();
  }

  /** Load the user's module and build the state; tell the pool it is ready, or why not. */
  async #init(m: InitMessage): Promise<void> {
    const t0 = performance.now();
    try {
      this.#replies.workerIndex = m.index;
      const definition = await loadDefinition(m);
      this.#definition = definition;
      this.#state = definition.init
        ? await definition.init(m.args, { index: m.index, size: m.size, kind: m.kind })
        : undefined;
      this.#port.post({ t: "ready", initMs: performance.now() - t0 } satisfies ControlMessage);
    } catch (e) {
      this.#port.post({ t: "initError", error: encodeError(e) } satisfies ControlMessage);
    }
  }

  /** Dispose of the state, tell the pool how that went, and end the worker. */
  async #stop(): Promise<void> {
    let error;
    try {
      if (this.#definition?.dispose) await this.#definition.dispose(this.#state);
    } catch (e) {
      error = encodeError(e);
    }
    this.#dead = true;
    this.#port.post({ t: "disposed", error } as ControlMessage);
    this.#port.exit(0);
  }
}

/** The worker definition the init message names, checked (its init arguments too). */
async function loadDefinition(m: InitMessage): Promise<AnyWorkerDefinition> {
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
  return d;
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
