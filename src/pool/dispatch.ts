/**
 * Dispatch: which ready worker gets which chunk of which map. A {@linkcode DispatchPolicy}
 * (piscina's "balancer" idea) makes the choices; the {@linkcode Dispatcher} runs a round once
 * per microtask when asked, hands the chosen chunks to the slots, then sends each slot's batch
 * (`send_chunks.ts`).
 *
 * @module
 */

import type { MapRun } from "./map_run.ts";
import { sendOutbox } from "./send_chunks.ts";
import type { WorkerSlot } from "./worker_slot.ts";

/** The choices of a dispatch round. Implementations keep their own state (a round-robin cursor). */
export interface DispatchPolicy {
  /** The worker the next chunk goes to in this round, or `undefined` when none should take one. */
  pickWorker(slots: readonly WorkerSlot[]): WorkerSlot | undefined;
  /**
   * The map whose next chunk goes out (it has `pendingCount > 0` when returned; a policy may
   * flush a map's partial chunk to make one), or `undefined` when no map has work.
   */
  pickRun(runs: readonly MapRun[]): MapRun | undefined;
  /** Whether a worker would take a chunk now (maps then send partial chunks at once). */
  wantsWork(slot: WorkerSlot): boolean;
  /** Adapt a worker's pipelining depth once replies arrived. */
  adaptDepth(slot: WorkerSlot): void;
}

/** Queued work aimed for per worker when adapting the pipelining depth, ms. */
const PIPELINE_MS = 4;

/**
 * The default policy: the least-loaded ready worker, refilled only once it is down to half its
 * depth (tasks then travel in batches, one message each way per batch); maps take turns (round
 * robin); the depth adapts to about {@linkcode PIPELINE_MS} of queued work per worker (deep for
 * tiny tasks, to hide message latency; shallow for long ones, to keep the load balanced).
 */
export class LeastLoadedPolicy implements DispatchPolicy {
  readonly #maxDepth: number;
  #turn = 0;

  /** @param maxDepth the pool's `depth` option: chunks in flight per worker at most */
  constructor(maxDepth: number) {
    this.#maxDepth = maxDepth;
  }

  /** The first depth of a worker (grows once task times are known). */
  initialDepth(): number {
    return Math.min(this.#maxDepth, 4);
  }

  pickWorker(slots: readonly WorkerSlot[]): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      const depth = s.depth;
      if (
        // Refill a worker only once it is down to half its depth (or while filling it in
        // this round).
        s.state === "ready" && s.inflight.length < depth &&
        (s.inflight.length <= depth >> 1 || s.outbox.length > 0) &&
        (!best || s.inflight.length < best.inflight.length)
      ) {
        best = s;
      }
    }
    return best;
  }

  pickRun(runs: readonly MapRun[]): MapRun | undefined {
    const n = runs.length;
    for (let k = 0; k < n; k++) {
      const r = runs[(this.#turn + k) % n]!;
      if (r.pendingCount > 0) {
        this.#turn = (this.#turn + k + 1) % n;
        return r;
      }
    }
    // An idle worker and nothing queued: send what async sources have gathered so far.
    for (let k = 0; k < n; k++) {
      const r = runs[(this.#turn + k) % n]!;
      if (r.hasPartial) {
        r.flushPartial();
        this.#turn = (this.#turn + k + 1) % n;
        return r;
      }
    }
    return undefined;
  }

  wantsWork(slot: WorkerSlot): boolean {
    return slot.state === "ready" && slot.inflight.length <= slot.depth >> 1;
  }

  adaptDepth(slot: WorkerSlot): void {
    slot.depth = Math.min(
      this.#maxDepth,
      Math.max(2, Math.round(PIPELINE_MS / Math.max(slot.chunkMs, 1e-3))),
    );
  }
}

/** Runs dispatch rounds over a pool's slots and active maps. */
export class Dispatcher {
  readonly #slots: readonly WorkerSlot[];
  readonly #runs: readonly MapRun[];
  readonly #policy: DispatchPolicy;
  readonly #isClosed: () => boolean;
  #scheduled = false;

  /**
   * @param slots the pool's workers
   * @param runs the active maps (the pool adds and removes them)
   * @param policy the choices
   * @param isClosed whether the pool is closed (no round runs then)
   */
  constructor(
    slots: readonly WorkerSlot[],
    runs: readonly MapRun[],
    policy: DispatchPolicy,
    isClosed: () => boolean,
  ) {
    this.#slots = slots;
    this.#runs = runs;
    this.#policy = policy;
    this.#isClosed = isClosed;
  }

  /** Ask for a round soon (once per microtask however often it is asked). */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#round);
  }

  /** A worker could take a chunk now and no map has one waiting. */
  hungry(): boolean {
    for (const r of this.#runs) if (r.pendingCount > 0) return false;
    for (const s of this.#slots) if (this.#policy.wantsWork(s)) return true;
    return false;
  }

  readonly #round = (): void => {
    this.#scheduled = false;
    const runs = this.#runs;
    if (runs.length === 0 || this.#isClosed()) return;
    const slots = this.#slots;
    const policy = this.#policy;
    let touched = false;
    for (;;) {
      const slot = policy.pickWorker(slots);
      if (!slot) break;
      const run = policy.pickRun(runs);
      if (!run) break;
      const chunk = run.takePending();
      slot.inflight.push(chunk);
      slot.outbox.push(chunk);
      touched = true;
    }
    if (!touched) return;
    const now = performance.now();
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      if (slot.outbox.length === 0) continue;
      const out = slot.outbox;
      slot.outbox = [];
      sendOutbox(slot, out, now);
    }
  };
}
