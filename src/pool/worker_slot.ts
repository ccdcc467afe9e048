/**
 * One worker slot of a pool: its worker's lifecycle (spawn and init, messages, death and
 * respawn, kill, the per-input timeout, stop at close) and its figures. Which chunk a death is
 * blamed on is decided in `crash_culprit.ts`; which chunks a slot gets, in `dispatch.ts`.
 *
 * @module
 */

import { ClosedError, TimeoutError } from "../errors.ts";
import { culpritOf, settleDeadWorkerChunks } from "./crash_culprit.ts";
import {
  CloneError,
  decodeError,
  findUnsendable,
  unsendableReason,
  WorkerCrashError,
  WorkerDisposeError,
  WorkerInitError,
} from "./errors.ts";
import type { Chunk } from "./map_run.ts";
import { type ControlMessage, type InitMessage, RUN, type WireReply } from "./protocol.ts";
import type { EndpointEvents, WorkerEndpoint, WorkerTransport } from "./transport.ts";

const ACTION = "start worker pool";
/** How long a timed-out thread gets to answer a ping before it is reported as still running. */
const PING_MS = 1000;

/** What a slot needs from its pool. */
export interface SlotHost {
  /** The backend the slot's workers run on. */
  readonly transport: WorkerTransport;
  /** Whether the pool is closed (or closing). */
  isClosed(): boolean;
  /** The init message of worker `index`. */
  initMessage(index: number): InitMessage;
  /** A slot could take work (a worker became ready, replies arrived, chunks were requeued). */
  schedule(): void;
  /** A worker died for good: fail every map when no worker is alive or starting any more. */
  checkAlive(error?: unknown): void;
  /** A worker's `dispose` failed (the first one is reported by `close()`). */
  disposeFailed(error: WorkerDisposeError): void;
  /** Report a thread that cannot be stopped. */
  warn(workerIndex: number, message: string): void;
  /** Keep a termination in progress (`close()` waits for them all). */
  track(termination: Promise<void>): void;
  /** Adapt the slot's pipelining depth after replies arrived (the dispatch policy). */
  adaptDepth(slot: WorkerSlot): void;
}

/** A slot's state. */
export type SlotState = "starting" | "ready" | "dead" | "closed";

/** One worker of the pool, replaced in place when it dies. */
export class WorkerSlot {
  /** Worker index (stable across restarts). */
  readonly index: number;
  /** The running worker's endpoint (undefined between a death and the respawn, and once stopped). */
  endpoint: WorkerEndpoint | undefined;
  /** The slot's state. */
  state: SlotState = "starting";
  /** Chunks sent (or about to be) and not answered, oldest first. */
  inflight: Chunk[] = [];
  /** Chunks assigned in this dispatch round, not sent yet. */
  outbox: Chunk[] = [];
  /** When the worker last answered (for the timeout), ms. */
  lastAck = 0;
  /** Chunks in flight this worker is refilled up to (adapted by the dispatch policy). */
  depth: number;
  /** Moving average of a chunk's busy time, ms. */
  chunkMs = 0;
  /** Inputs processed. */
  tasks = 0;
  /** Chunks processed. */
  chunks = 0;
  /** Time inside `process`, ms. */
  busyMs = 0;
  /** Time of the last init, ms. */
  initMs = 0;
  /** Replacements after a crash or timeout. */
  restarts = 0;
  /** Threads terminated while busy (Deno cannot stop them). */
  stuckThreads = 0;
  /** When the current worker became ready (0: not ready). */
  readyAt = 0;
  /** Time alive and ready of previous workers, ms. */
  liveMs = 0;
  readonly #host: SlotHost;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #started: ((error?: Error) => void) | undefined;
  #disposed: (() => void) | undefined;
  /** Answers awaited from replaced endpoints (see #terminateChecked). */
  readonly #pongs = new Map<WorkerEndpoint, () => void>();

  /** @internal */
  constructor(host: SlotHost, index: number, depth: number) {
    this.#host = host;
    this.index = index;
    this.depth = depth;
  }

  /** Whether a per-input timer runs. */
  get timing(): boolean {
    return this.#timer !== undefined;
  }

  /** Spawn (or respawn) the worker and initialise it. */
  spawn(): Promise<void> {
    this.state = "starting";
    const host = this.#host;
    return new Promise<void>((resolve, reject) => {
      const initError = (error: Error) =>
        new WorkerInitError(this.index, error, host.initMessage(this.index).args);
      this.#started = (error) => {
        this.#started = undefined;
        if (error) reject(initError(error));
        else resolve();
      };
      let endpoint: WorkerEndpoint | undefined;
      // A replaced worker's late messages (stale replies, a pong) never reach the new one.
      const events: EndpointEvents = {
        message: (m) => {
          if (endpoint !== undefined && this.endpoint === endpoint) this.#onMessage(m);
          else if (endpoint !== undefined) this.#onStale(endpoint, m);
        },
        exit: (reason, error) => {
          if (endpoint !== undefined && this.endpoint === endpoint) {
            this.#onDeath(reason, -1, error);
          }
        },
      };
      try {
        endpoint = this.endpoint = host.transport.start(events);
      } catch (e) {
        this.#started = undefined;
        reject(initError(e instanceof Error ? e : new Error(String(e))));
        return;
      }
      const init = host.initMessage(this.index);
      try {
        endpoint.post(init);
      } catch (e) {
        // init arguments the transport cannot copy (a function, a symbol, ...): name the key
        const bad = findUnsendable(init.args, endpoint.probe, "init") ??
          { path: "init", value: init.args, error: e };
        this.state = "dead";
        this.kill();
        this.#started = undefined;
        reject(
          new CloneError(
            ACTION,
            bad.path,
            `cannot be sent to worker ${this.index}: ${unsendableReason(bad.value, bad.error)}`,
            bad.value,
            { cause: bad.error },
          ),
        );
      }
    });
  }

  /** A message from a worker that was replaced: only a pong matters (see #terminateChecked). */
  #onStale(endpoint: WorkerEndpoint, message: unknown): void {
    if (!Array.isArray(message) && (message as ControlMessage).t === "pong") {
      this.#pongs.get(endpoint)?.();
    }
  }

  /**
   * Terminate a thread that may be busy: ping it first. A thread whose event loop is free
   * answers at once and terminate() stops it; one that does not answer within PING_MS is busy in
   * JavaScript, and Deno cannot stop it: it is counted and reported.
   */
  async #terminateChecked(endpoint: WorkerEndpoint, when: string): Promise<void> {
    const answered = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#pongs.delete(endpoint);
        resolve(false);
      }, PING_MS);
      this.#pongs.set(endpoint, () => {
        clearTimeout(timer);
        this.#pongs.delete(endpoint);
        resolve(true);
      });
      try {
        endpoint.post({ t: "ping" });
      } catch {
        this.#pongs.get(endpoint)?.();
      }
    });
    await endpoint.terminate().catch(() => {});
    if (answered) return;
    this.stuckThreads++;
    this.#host.warn(
      this.index,
      `worker ${this.index}'s thread ${when} and does not answer: it is busy in JavaScript, and ` +
        "Deno cannot stop a busy thread, so it is still running (a core stays busy and the " +
        'process cannot exit by itself); use kind: "process" for tasks that may not return ' +
        "(a child process is killed for sure)",
    );
  }

  #onMessage(message: unknown): void {
    if (Array.isArray(message)) {
      if (message[0] === RUN) this.#onReplies(message[1] as WireReply[]);
      return;
    }
    const host = this.#host;
    const m = message as ControlMessage;
    switch (m.t) {
      case "ready":
        this.initMs = m.initMs;
        this.readyAt = performance.now();
        if (host.isClosed()) return;
        this.state = "ready";
        this.#started?.();
        host.schedule();
        return;
      case "initError":
        this.state = "dead";
        this.kill();
        {
          const error = decodeError(m.error);
          this.#started?.(error);
          host.checkAlive(
            new WorkerInitError(this.index, error, host.initMessage(this.index).args),
          );
        }
        return;
      case "crash":
        this.#onDeath(m.reason, m.chunk, m.error ? decodeError(m.error) : undefined);
        return;
      case "disposed":
        if (m.error !== undefined) {
          host.disposeFailed(new WorkerDisposeError(this.index, decodeError(m.error)));
        }
        this.#disposed?.();
        return;
    }
  }

  /** A batch of chunk results (the hot path: one call per reply message). */
  #onReplies(replies: WireReply[]): void {
    const inflight = this.inflight;
    for (let k = 0; k < replies.length; k++) {
      const [id, busy, values, errors] = replies[k]!;
      const chunk = inflight.shift();
      if (chunk === undefined || chunk.id !== id) continue; // a stale reply after a requeue
      this.tasks += values.length;
      this.chunks++;
      this.busyMs += busy;
      this.chunkMs = this.chunkMs * 0.8 + busy * 0.2;
      chunk.run.complete(chunk, values, errors, busy, this.index);
    }
    if (this.#timer !== undefined) {
      this.lastAck = performance.now();
      if (inflight.length === 0) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    }
    this.#host.adaptDepth(this);
    this.#host.schedule();
  }

  /** A worker died (crash notice, exit, timeout): fail its task, requeue the rest, respawn. */
  #onDeath(reason: string, chunkId: number, error?: Error, timeout = false): void {
    if (this.state === "closed" || this.state === "dead" && !this.#started) return;
    const host = this.#host;
    if (host.isClosed()) {
      this.#disposed?.();
      return;
    }
    const wasStarting = this.state === "starting";
    this.state = "dead";
    if (this.readyAt > 0) this.liveMs += performance.now() - this.readyAt;
    this.readyAt = 0;
    this.kill(timeout ? "ran past timeoutMs" : undefined);
    if (wasStarting && this.#started) {
      this.#started(error ?? new WorkerCrashError(this.index, reason));
      host.checkAlive();
      return;
    }
    const inflight = this.inflight;
    this.inflight = [];
    const culprit = culpritOf(inflight, chunkId);
    const cause = timeout
      ? new TimeoutError("finish a task in time", reason, {
        received: inflight[culprit]?.run.timeoutMs,
      })
      : new WorkerCrashError(this.index, reason, error);
    settleDeadWorkerChunks(inflight, culprit, this.index, cause);
    this.restarts++;
    this.spawn().then(
      () => host.schedule(),
      (e) => {
        this.state = "dead";
        host.checkAlive(e);
      },
    );
    host.schedule();
  }

  /**
   * Stop the worker now. `check` (a backend whose workers may outlive `terminate`): ping it
   * first and report it when it does not answer; the sentence says when it happened.
   */
  kill(check?: string): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const endpoint = this.endpoint;
    this.endpoint = undefined;
    if (endpoint) {
      const p = check !== undefined && this.#host.transport.mayOutliveTerminate
        ? this.#terminateChecked(endpoint, check)
        : endpoint.terminate().catch(() => {});
      this.#host.track(p);
    }
  }

  /** Start the per-input timer for a chunk just sent (when none runs). */
  startTimer(now: number, ms: number): void {
    if (this.#timer !== undefined) return;
    this.lastAck = now;
    this.#arm(ms);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const head = this.inflight[0];
      if (!head || head.run.timeoutMs <= 0) {
        if (this.inflight.some((c) => c.run.timeoutMs > 0)) this.#arm(10);
        return;
      }
      const deadline = Math.max(head.sentAt, this.lastAck) + head.run.timeoutMs * head.items.length;
      const now = performance.now();
      if (now >= deadline) {
        this.#onDeath(
          `input took longer than timeoutMs (${head.run.timeoutMs} ms per input)`,
          head.id,
          undefined,
          true,
        );
      } else {
        this.#arm(deadline - now);
      }
    }, Math.max(0, ms));
  }

  /** Stop the worker at close: `dispose` gets `closeTimeoutMs`, then it is terminated. */
  async stop(closeTimeoutMs: number): Promise<void> {
    const ready = this.state === "ready" && this.endpoint !== undefined;
    const starting = this.state === "starting" && this.endpoint !== undefined;
    if (this.readyAt > 0) this.liveMs += performance.now() - this.readyAt;
    this.readyAt = 0;
    this.state = "closed";
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#started?.(new ClosedError(ACTION, "the pool was closed while starting"));
    let disposed = false;
    if (ready && closeTimeoutMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      disposed = await new Promise<boolean>((resolve) => {
        this.#disposed = () => resolve(true);
        timer = setTimeout(() => resolve(false), closeTimeoutMs);
        try {
          this.endpoint!.post({ t: "stop" });
        } catch {
          resolve(false);
        }
      });
      clearTimeout(timer);
      this.#disposed = undefined;
    }
    const endpoint = this.endpoint;
    this.endpoint = undefined;
    if (!endpoint) return;
    // A thread that did not stop by itself may be busy in JavaScript: check it really stops.
    if ((ready || starting) && !disposed && this.#host.transport.mayOutliveTerminate) {
      await this.#terminateChecked(
        endpoint,
        ready ? "did not stop at close()" : "was still in init at close()",
      );
    } else {
      await endpoint.terminate().catch(() => {});
    }
  }
}
