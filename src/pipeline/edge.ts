/**
 * Bounded single-producer single-consumer queues between pipeline nodes, carrying items, holes
 * (placeholders of items that went to the dead-letter output), checkpoint barriers and the end.
 *
 * @module
 */

import { Ring } from "../_internal/ring.ts";

/** An item. */
export const ITEM = 0;
/** A placeholder for an item that failed upstream (keeps fan-in zips aligned). */
export const HOLE = 1;
/** A checkpoint barrier. */
export const BARRIER = 2;
/** The end of the stream (`flush`: the source was exhausted, not stopped). */
export const END = 3;

/** A message on an edge: an item's `value`, a hole, a `checkpoint` barrier, or the end. */
export type Message =
  | { kind: typeof ITEM; value: unknown }
  | { kind: typeof HOLE }
  | BarrierMessage
  | EndMessage;

/** The barrier of checkpoint `checkpoint`. */
export type BarrierMessage = { kind: typeof BARRIER; checkpoint: number };
/** The end of the stream (`flush`: the source was exhausted, not stopped). */
export type EndMessage = { kind: typeof END; flush: boolean };

/** The shared hole message. */
export const HOLE_MESSAGE: Message = { kind: HOLE };

/**
 * What a reader does with the messages that are not items (holes, barriers, the end). Items
 * take each reader's own inline branch (the per-item path: no extra call); everything else goes
 * through {@linkcode dispatchControl}, the one switch over the other kinds.
 */
export interface ControlHandler<R> {
  /** A hole: the slot of an item that failed upstream. */
  hole(): R;
  /** A checkpoint barrier (passed on as it is, no copy). */
  barrier(m: BarrierMessage): R;
  /** The end of the stream (passed on as it is). */
  end(m: EndMessage): R;
}

/** Hand a non-item message to `handler` (the one switch over HOLE / BARRIER / END). */
export function dispatchControl<R>(
  m: Exclude<Message, { kind: typeof ITEM }>,
  handler: ControlHandler<R>,
): R {
  switch (m.kind) {
    case HOLE:
      return handler.hole();
    case BARRIER:
      return handler.barrier(m);
    default:
      return handler.end(m);
  }
}

/** Thrown out of `push`/`pull` once the run failed or was aborted. */
export class Cancelled extends Error {
  /** The reason the run ended. */
  readonly reason: unknown;
  /** @param reason the run's error */
  constructor(reason: unknown) {
    super("the pipeline run ended");
    this.reason = reason;
  }
}

/** Decides whether a full sink buffer may grow (some reader waits on an empty sink). */
export interface GrowPolicy {
  canGrow(): boolean;
  readerWaiting(delta: number): void;
  grew(edge: Edge): void;
}

/** A FIFO of messages with a capacity; `grow` lets a sink buffer exceed it to avoid deadlock. */
export class Edge {
  /** How many messages it holds before `tryPush` refuses (unless `grow` allows more). */
  readonly capacity: number;
  /** `"from->to"` for an edge between nodes, the sink's name for a sink buffer. */
  readonly name: string;
  readonly #queue = new Ring<Message>();
  #space: (() => void) | undefined;
  #data: (() => void) | undefined;
  #error: Cancelled | undefined;
  readonly #grow: GrowPolicy | undefined;
  /** A producer waiting for room is woken when the buffer holds at most this many. */
  readonly #low: number;
  /** Whether the buffer went past its capacity once (reported once). */
  grown = false;
  /** Called once on the next push (a consumer waiting on several edges). */
  listener: (() => void) | undefined;
  /** Drop everything pushed from now on (a sink whose reader left). */
  discard = false;

  constructor(name: string, capacity: number, grow?: GrowPolicy) {
    this.name = name;
    this.capacity = capacity;
    this.#low = capacity >> 1;
    this.#grow = grow;
  }

  /** Messages queued. */
  get size(): number {
    return this.#queue.length;
  }

  /** Push without waiting; false when full. */
  tryPush(m: Message): boolean {
    if (this.#error) throw this.#error;
    if (this.discard) return true;
    if (this.#queue.length >= this.capacity) {
      if (this.#grow === undefined || !this.#grow.canGrow()) return false;
      if (!this.grown) {
        this.grown = true;
        this.#grow.grew(this);
      }
    }
    this.#queue.push(m);
    const d = this.#data;
    if (d) {
      this.#data = undefined;
      d();
    }
    const l = this.listener;
    if (l) {
      this.listener = undefined;
      l();
    }
    return true;
  }

  /** Push, waiting for room (the slowest reader sets the pace). */
  async push(m: Message): Promise<void> {
    while (!this.tryPush(m)) {
      await new Promise<void>((resolve) => (this.#space = resolve));
    }
  }

  /** Take the next message without waiting, or `undefined`. */
  tryPull(): Message | undefined {
    const queue = this.#queue;
    if (queue.length === 0) {
      if (this.#error) throw this.#error;
      return undefined;
    }
    const m = queue.shift();
    // A producer blocked on a full buffer is woken once it has drained to half its capacity
    // (not on every pull): it then refills many messages per wake-up instead of one.
    const s = this.#space;
    if (s && queue.length <= this.#low) {
      this.#space = undefined;
      s();
    }
    return m;
  }

  /** Take the next message, waiting for one. */
  async pull(): Promise<Message> {
    for (;;) {
      const m = this.tryPull();
      if (m !== undefined) return m;
      this.#grow?.readerWaiting(1);
      try {
        await new Promise<void>((resolve) => (this.#data = resolve));
      } finally {
        this.#grow?.readerWaiting(-1);
      }
    }
  }

  /** Wake a producer blocked on a full buffer so it re-checks whether it may grow. */
  wakeProducer(): void {
    const s = this.#space;
    if (s) {
      this.#space = undefined;
      s();
    }
  }

  /** Whether the run failed (then `tryPull` throws). */
  get failed(): boolean {
    return this.#error !== undefined;
  }

  /** Fail every waiter now and every later call (`keep`: let the reader take what is queued
   * first, for sink buffers). */
  fail(reason: unknown, keep = false): void {
    if (this.#error) return;
    this.#error = new Cancelled(reason);
    if (!keep) this.#queue.clear();
    const s = this.#space;
    const d = this.#data;
    this.#space = this.#data = undefined;
    const l = this.listener;
    this.listener = undefined;
    s?.();
    d?.();
    l?.();
  }
}

/** Where a node sends its messages: an edge, or a node fused into the sender's task. */
export interface Target {
  /** Take `m` now; false when it must wait (then the sender calls `push` with it). */
  tryPush(m: Message): boolean;
  /** Take `m`, waiting for room (or for the fused node to finish with it). */
  push(m: Message): Promise<void>;
}

/**
 * Send `m` to every target: `undefined` when all took it without waiting, else a promise (the
 * fast path stays synchronous; {@linkcode emitSlow} waits from the first target that refused).
 */
export function emit(targets: Target[], m: Message): Promise<void> | undefined {
  for (let i = 0; i < targets.length; i++) {
    if (!targets[i]!.tryPush(m)) return emitSlow(targets, m, i);
  }
  return undefined;
}

/** The rest of {@linkcode emit} once target `from` refused `m`. */
export async function emitSlow(targets: Target[], m: Message, from: number): Promise<void> {
  await targets[from]!.push(m);
  for (let i = from + 1; i < targets.length; i++) {
    const target = targets[i]!;
    if (!target.tryPush(m)) await target.push(m);
  }
}
