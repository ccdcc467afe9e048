/**
 * The run id of a keyed map (`NatsPool.map(source, { key })`): the name its tasks, results and
 * result consumer carry on the server is `<keyId>-<run id>` (`protocol.ts`). The run id is kept
 * as the last message of the key's marker subject in the result stream
 * ({@linkcode markerSubject}): the first map with a key writes a random one, a coordinator that
 * restarts (the map did not end) finds it and so publishes every chunk under the same dedup id
 * and reads the same results; a map that ends removes the marker first, so the next map with the
 * key starts a new run. A new name is the only clean start: JetStream keeps a message id in its
 * duplicate window (2 minutes) even after the message is purged.
 *
 * The marker expires with the result stream's `max_age` (1 h); a restart later than that starts a
 * new run, as does one after the map ended.
 *
 * @module
 */

import type { NatsHandle } from "./client.ts";
import { markerSubject, type PoolNames, tasksSubject } from "./protocol.ts";

const RUN_ID = /^[0-9a-f]{12}$/;

/** The wire map id of key `keyId`: the run in progress if there is one, else a new run. */
export async function openKeyedRun(
  nats: NatsHandle,
  names: PoolNames,
  pool: string,
  keyId: string,
): Promise<string> {
  const subject = markerSubject(pool, keyId);
  const found = await nats.jsm.streams.getMessage(names.resultStream, { last_by_subj: subject })
    .catch((e) => {
      // "no message found" (a first run) is an error in some client versions, null in others
      if (String((e as Error)?.message).includes("no message found")) return null;
      throw e;
    });
  const kept = found === null ? "" : new TextDecoder().decode(found.data);
  if (RUN_ID.test(kept)) return `${keyId}-${kept}`;
  const runId = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  await nats.js.publish(subject, new TextEncoder().encode(runId));
  return `${keyId}-${runId}`;
}

/** Remove the marker of key `keyId` (its map ended: the next map with the key starts anew). */
export async function endKeyedRun(
  nats: NatsHandle,
  names: PoolNames,
  pool: string,
  keyId: string,
): Promise<void> {
  await nats.jsm.streams.purge(names.resultStream, { filter: markerSubject(pool, keyId) });
}

/** What the end of a keyed map cleans up. */
export interface KeyedLink {
  /** The wire map id ("" if the run was never looked up). */
  readonly id: string;
  /** The run lookup (never rejects). */
  readonly opening: Promise<void>;
  /** Task publishes not answered yet. */
  readonly publishing: Set<Promise<unknown>>;
  /** The map's results reader (deletes its consumer and purges its results). */
  readonly reader?: { close(): Promise<void> } | undefined;
}

/**
 * The keyed maps of one pool: which keys are live (one live map per key), and the clean-up of
 * the ones that ended (a new map with the key looks its run up only once that is done, so it
 * never reuses the names being purged).
 */
export class KeyedRuns {
  readonly #nats: NatsHandle;
  readonly #names: PoolNames;
  readonly #pool: string;
  readonly #live = new Set<string>();
  readonly #ending = new Map<string, Promise<void>>();

  constructor(nats: NatsHandle, names: PoolNames, pool: string) {
    this.#nats = nats;
    this.#names = names;
    this.#pool = pool;
  }

  /** Whether a map with key id `keyId` is live. */
  live(keyId: string): boolean {
    return this.#live.has(keyId);
  }

  /** Mark `keyId` live and look up its run id (after the previous map's clean-up). */
  open(keyId: string): Promise<string> {
    this.#live.add(keyId);
    const ended = this.#ending.get(keyId) ?? Promise.resolve();
    return ended.then(() => openKeyedRun(this.#nats, this.#names, this.#pool, keyId));
  }

  /**
   * The map of `keyId` ended: remove its run marker first (a crash after that starts a new run,
   * never one whose results are gone), then its leftover tasks, its consumer and its results.
   * Returns the clean-up (best effort, never rejects).
   */
  end(keyId: string, link: KeyedLink): Promise<void> {
    this.#live.delete(keyId);
    const ending = (async () => {
      await link.opening;
      if (link.id === "") return;
      await Promise.allSettled([...link.publishing]);
      await endKeyedRun(this.#nats, this.#names, this.#pool, keyId).catch(() => {});
      const filter = tasksSubject(this.#pool, link.id);
      await this.#nats.jsm.streams.purge(this.#names.stream, { filter }).catch(() => {});
      await link.reader?.close();
    })();
    this.#ending.set(keyId, ending);
    return ending.finally(() => {
      if (this.#ending.get(keyId) === ending) this.#ending.delete(keyId);
    });
  }
}
