/**
 * Tasks the server gave up: JetStream stops delivering a task after `max_deliver` deliveries and
 * sends a MAX_DELIVERIES advisory naming its stream sequence. The pool's advisory stream keeps
 * these advisories (`setup.ts`); {@linkcode GivenUpTasks} reads the new ones with an ordered
 * consumer (which resumes where it stopped after a reconnect) and maps each sequence back to the
 * chunk published with it (the `seq` of its PubAck, recorded with {@linkcode GivenUpTasks.track}).
 *
 * @module
 */

import { type Consumer, DeliverPolicy, type NatsHandle } from "./client.ts";
import type { PoolNames } from "./protocol.ts";

type Messages = Awaited<ReturnType<Consumer["consume"]>>;

/** A task the server gave up, with what was tracked for it. */
export interface GivenUp<T> {
  /** The task's stream sequence. */
  seq: number;
  /** Deliveries the server made. */
  deliveries: number;
  /** What {@linkcode GivenUpTasks.track} recorded. */
  entry: T;
}

/** Reads the MAX_DELIVERIES advisories of a pool's task consumer (see the module doc). */
export class GivenUpTasks<T> {
  readonly #bySeq = new Map<number, T>();
  readonly #onGivenUp: (task: GivenUp<T>) => void;
  #messages: Messages | undefined;

  private constructor(onGivenUp: (task: GivenUp<T>) => void) {
    this.#onGivenUp = onGivenUp;
  }

  /** Start reading the advisories sent from now on; `onGivenUp` gets the tracked ones. */
  static async open<T>(
    nats: NatsHandle,
    names: PoolNames,
    onGivenUp: (task: GivenUp<T>) => void,
  ): Promise<GivenUpTasks<T>> {
    const consumer = await nats.js.consumers.get(names.advisoryStream, {
      deliver_policy: DeliverPolicy.New,
    });
    const self = new GivenUpTasks<T>(onGivenUp);
    self.#messages = await consumer.consume({ callback: (m) => self.#on(m.data) });
    return self;
  }

  #on(data: Uint8Array): void {
    let advisory: { stream_seq?: unknown; deliveries?: unknown };
    try {
      advisory = JSON.parse(new TextDecoder().decode(data));
    } catch {
      return; // not an advisory
    }
    const seq = Number(advisory.stream_seq);
    const entry = this.#bySeq.get(seq);
    if (entry === undefined) return; // another coordinator's task, or one already done
    this.#bySeq.delete(seq);
    this.#onGivenUp({ seq, deliveries: Number(advisory.deliveries), entry });
  }

  /** Remember what task `seq` carries. */
  track(seq: number, entry: T): void {
    this.#bySeq.set(seq, entry);
  }

  /** Forget task `seq` (its result came). */
  untrack(seq: number): void {
    this.#bySeq.delete(seq);
  }

  /** Stop reading. */
  async close(): Promise<void> {
    await this.#messages?.close().catch(() => {});
  }
}
