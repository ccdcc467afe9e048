/**
 * Bounded single-producer single-consumer queues between pipeline nodes, carrying items, holes
 * (placeholders of items that went to the dead-letter output), checkpoint barriers and the end.
 *
 * @module
 */

/** An item. */
export const ITEM = 0;
/** A placeholder for an item that failed upstream (keeps fan-in zips aligned). */
export const HOLE = 1;
/** A checkpoint barrier. */
export const BARRIER = 2;
/** The end of the stream (`flush`: the source was exhausted, not stopped). */
export const END = 3;

/** A message on an edge. */
export type Msg =
  | { t: typeof ITEM; v: unknown }
  | { t: typeof HOLE }
  | { t: typeof BARRIER; k: number }
  | { t: typeof END; flush: boolean };

/** The shared hole message. */
export const HOLE_MSG: Msg = { t: HOLE };

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
  readonly cap: number;
  readonly name: string;
  #buf: Msg[] = [];
  #head = 0;
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

  constructor(name: string, cap: number, grow?: GrowPolicy) {
    this.name = name;
    this.cap = cap;
    this.#low = cap >> 1;
    this.#grow = grow;
  }

  /** Messages queued. */
  get size(): number {
    return this.#buf.length - this.#head;
  }

  /** Push without waiting; false when full. */
  tryPush(m: Msg): boolean {
    if (this.#error) throw this.#error;
    if (this.discard) return true;
    if (this.size >= this.cap) {
      if (this.#grow === undefined || !this.#grow.canGrow()) return false;
      if (!this.grown) {
        this.grown = true;
        this.#grow.grew(this);
      }
    }
    this.#buf.push(m);
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
  async push(m: Msg): Promise<void> {
    while (!this.tryPush(m)) {
      await new Promise<void>((resolve) => (this.#space = resolve));
    }
  }

  /** Take the next message without waiting, or `undefined`. */
  tryPull(): Msg | undefined {
    if (this.#head >= this.#buf.length) {
      if (this.#error) throw this.#error;
      return undefined;
    }
    const m = this.#buf[this.#head]!;
    this.#buf[this.#head++] = undefined as unknown as Msg;
    if (this.#head >= 1024 && this.#head * 2 >= this.#buf.length) {
      this.#buf = this.#buf.slice(this.#head);
      this.#head = 0;
    }
    // A producer blocked on a full buffer is woken once it has drained to half its capacity
    // (not on every pull): it then refills many messages per wake-up instead of one.
    const s = this.#space;
    if (s && this.#buf.length - this.#head <= this.#low) {
      this.#space = undefined;
      s();
    }
    return m;
  }

  /** Take the next message, waiting for one. */
  async pull(): Promise<Msg> {
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
    if (!keep) {
      this.#buf = [];
      this.#head = 0;
    }
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
