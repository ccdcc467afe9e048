/**
 * Tasks the server gave up: JetStream stops delivering a task after `max_deliver` deliveries and
 * sends a MAX_DELIVERIES advisory naming its stream sequence. The pool's advisory stream keeps
 * these advisories (`setup.ts`); {@linkcode GivenUpTasks} reads the new ones with an ordered
 * consumer (which resumes where it stopped after a reconnect) and maps each sequence back to the
 * chunk published with it (the `seq` of its PubAck, recorded with {@linkcode GivenUpTasks.track}).
 *
 * It reads the stream from its start (`max_age` bounds it to an hour) and keeps the advisories no
 * tracked task matched: a keyed map re-run by a restarted coordinator republishes a chunk the
 * dead one had given up, the server drops it as a duplicate and answers with the ORIGINAL task's
 * sequence, and `track` of that sequence then finds the advisory sent before (the chunk would
 * otherwise wait forever for a result). Advisories older than the task stream (one deleted and
 * created again, its sequences starting over) are ignored.
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
  /** Advisories no tracked task matched yet: sequence -> deliveries. */
  readonly #past = new Map<number, number>();
  #since = 0;
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
    const created = (await nats.jsm.streams.info(names.stream)).created;
    const consumer = await nats.js.consumers.get(names.advisoryStream, {
      deliver_policy: DeliverPolicy.All,
    });
    const self = new GivenUpTasks<T>(onGivenUp);
    self.#since = Date.parse(created) || 0;
    self.#messages = await consumer.consume({ callback: (m) => self.#on(m.data) });
    return self;
  }

  #on(data: Uint8Array): void {
    let advisory: { stream_seq?: unknown; deliveries?: unknown; timestamp?: unknown };
    try {
      advisory = JSON.parse(new TextDecoder().decode(data));
    } catch {
      return; // not an advisory
    }
    const seq = Number(advisory.stream_seq);
    const deliveries = Number(advisory.deliveries);
    const entry = this.#bySeq.get(seq);
    if (entry === undefined) {
      // another coordinator's task, one already done, or one a keyed re-run may republish
      const at = Date.parse(String(advisory.timestamp));
      if (!(at < this.#since)) this.#past.set(seq, deliveries);
      return;
    }
    this.#bySeq.delete(seq);
    this.#onGivenUp({ seq, deliveries, entry });
  }

  /** Remember what task `seq` carries (given up already: reported on the next microtask). */
  track(seq: number, entry: T): void {
    const deliveries = this.#past.get(seq);
    if (deliveries === undefined) {
      this.#bySeq.set(seq, entry);
      return;
    }
    this.#past.delete(seq);
    queueMicrotask(() => this.#onGivenUp({ seq, deliveries, entry }));
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
