/**
 * The coordinator's reader of one map's results: a durable pull consumer on the pool's result
 * stream, filtered on the map's subject, created when the map starts and deleted when it ends.
 * Each result is handed over, then acknowledged (work-queue retention: the server deletes it).
 * The client's `consume()` re-issues its pulls after a reconnect, so results published while the
 * coordinator was away (or the server restarting) are read when it is back.
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
  #messages: Messages | undefined;
  #closing: Promise<void> | undefined;

  /** Start reading map `map`'s results (the consumer is created in the background). */
  constructor(nats: NatsHandle, names: PoolNames, pool: string, map: string, hooks: ResultHooks) {
    this.#nats = nats;
    this.#stream = names.resultStream;
    this.#name = mapConsumer(pool, map);
    this.#subject = resultsSubject(pool, map);
    [this.#pool, this.#map] = [pool, map];
    this.#hooks = hooks;
    this.#opened = this.#open().catch((cause) => {
      if (this.#closing !== undefined) return;
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
    await jsm.consumers.add(this.#stream, {
      durable_name: this.#name,
      filter_subject: this.#subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: RESULT_MAX_AGE_MS * NS,
      max_ack_pending: -1,
    });
    const consumer = await js.consumers.get(this.#stream, this.#name);
    if (this.#closing !== undefined) return;
    const messages = await consumer.consume({
      max_messages: BATCH,
      callback: (m) =>
        unpackResult(this.#nats, this.#pool, this.#map, m, (u) => {
          this.#hooks.onResult(u);
          m.ack();
        }),
    });
    this.#messages = messages;
    if (this.#closing !== undefined) {
      await messages.close();
      return;
    }
    messages.closed().then((e) => {
      if (this.#closing !== undefined) return;
      this.#hooks.onError(
        new ResultReadError(ACTION, "its consumer stopped", { received: this.#name, cause: e }),
      );
    });
  }

  /** Stop reading, delete the consumer and the map's unread results (idempotent, best effort). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#opened;
      await this.#messages?.close().catch(() => {});
      const jsm = this.#nats.jsm;
      await jsm.consumers.delete(this.#stream, this.#name).catch(() => {});
      await jsm.streams.purge(this.#stream, { filter: this.#subject }).catch(() => {});
      await endPayloads(this.#nats, this.#pool, this.#map);
    })();
    return this.#closing;
  }
}
