/**
 * The coordinator's reader of one map's results: a durable pull consumer on the pool's result
 * stream, filtered on the map's subject, created when the map starts and deleted when it ends.
 * Unkeyed map: each result is handed over, then acknowledged (work-queue retention: the server
 * deletes it). Keyed map (`keyed`): results are NOT acknowledged as they are read (`ack_wait` of
 * `RESULT_MAX_AGE_MS`, so none is redelivered): they stay in the stream until the map ends and
 * `close` purges them, and a coordinator that re-attaches to the key (after the first one died)
 * deletes the dead one's consumer and creates it again, so it reads every result of the map from
 * the start. The client's `consume()` re-issues its pulls after a reconnect, so results
 * published while the coordinator was away (or the server restarting) are read when it is back.
 *
 * @module
 */

import type { Consumer, JsMsg, NatsHandle } from "./client.ts";
import { ResultReadError } from "./errors.ts";
import { mapConsumer, type PoolNames, RESULT_MAX_AGE_MS, resultsSubject } from "./protocol.ts";
import { NS } from "./setup.ts";
import { endPayloads, unpackResult } from "./large_payload.ts";
import { AckPolicy, DeliverPolicy } from "./client.ts";

const ACTION = "read the results of a map";
/** Results pulled per request. */
const BATCH = 1024;

type Messages = Awaited<ReturnType<Consumer["consume"]>>;

/** What the reader calls. */
export interface ResultHooks {
  /** One result (acknowledged after this returns). */
  onResult(msg: JsMsg): void;
  /** The results can no longer be read: the map fails. */
  onError(error: ResultReadError): void;
}

/** One map's results consumer (see the module doc). */
export class ResultsReader {
  readonly #nats: NatsHandle;
  readonly #stream: string;
  readonly #name: string;
  readonly #subject: string;
  readonly #hooks: ResultHooks;
  readonly #pool: string;
  readonly #map: string;
  readonly #opened: Promise<void>;
  readonly #keyed: boolean;
  #messages: Messages | undefined;
  #stopping: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Start reading map `map`'s results (the consumer is created in the background); `keyed`: read
   * them all from the start and leave them in the stream until `close` (see the module doc).
   */
  constructor(
    nats: NatsHandle,
    names: PoolNames,
    pool: string,
    map: string,
    hooks: ResultHooks,
    keyed = false,
  ) {
    this.#nats = nats;
    this.#keyed = keyed;
    this.#stream = names.resultStream;
    this.#name = mapConsumer(pool, map);
    this.#subject = resultsSubject(pool, map);
    [this.#pool, this.#map] = [pool, map];
    this.#hooks = hooks;
    this.#opened = this.#open().catch((cause) => {
      if (this.#stopping !== undefined) return;
      hooks.onError(
        new ResultReadError(ACTION, "its consumer could not be created", {
          received: this.#name,
          cause,
        }),
      );
    });
  }

  async #open(): Promise<void> {
    const { jsm, js } = this.#nats;
    const keyed = this.#keyed;
    // A keyed map's consumer may be a dead coordinator's, its results delivered and not acked:
    // a new consumer delivers them again, from the start.
    if (keyed) await jsm.consumers.delete(this.#stream, this.#name).catch(() => {});
    await jsm.consumers.add(this.#stream, {
      durable_name: this.#name,
      filter_subject: this.#subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: RESULT_MAX_AGE_MS * NS,
      max_ack_pending: -1,
      ...(keyed ? { ack_wait: RESULT_MAX_AGE_MS * NS } : {}),
    });
    const consumer = await js.consumers.get(this.#stream, this.#name);
    if (this.#stopping !== undefined) return;
    const messages = await consumer.consume({
      max_messages: BATCH,
      // A keyed map's results (and their payload objects) stay for a coordinator that re-attaches.
      callback: (m) =>
        unpackResult(this.#nats, this.#pool, this.#map, m, (u) => {
          this.#hooks.onResult(u);
          if (!this.#keyed) m.ack();
        }, this.#keyed),
    });
    this.#messages = messages;
    if (this.#stopping !== undefined) {
      await messages.close();
      return;
    }
    messages.closed().then((e) => {
      if (this.#stopping !== undefined) return;
      this.#hooks.onError(
        new ResultReadError(ACTION, "its consumer stopped", { received: this.#name, cause: e }),
      );
    });
  }

  /** Stop reading; the consumer and the results stay (idempotent). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#opened;
      await this.#messages?.close().catch(() => {});
    })();
    return this.#stopping;
  }

  /** Stop reading, delete the consumer and the map's results (idempotent, best effort). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.stop();
      const jsm = this.#nats.jsm;
      await jsm.consumers.delete(this.#stream, this.#name).catch(() => {});
      await jsm.streams.purge(this.#stream, { filter: this.#subject }).catch(() => {});
      await endPayloads(this.#nats, this.#pool, this.#map);
    })();
    return this.#closing;
  }
}
