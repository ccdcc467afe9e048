/**
 * The run id of a keyed map (`NatsPool.map(source, { key })`): the name its tasks, results and
 * result consumer carry on the server is `<keyId>-<run id>` (`protocol.ts`). The run id is kept
 * as the last message of the key's marker subject in the result stream
 * ({@linkcode markerSubject}): the first map with a key writes a random one, a coordinator that
 * restarts (the map did not end, or ended and its run is still kept: {@linkcode KeyedRuns}) finds
 * it and so publishes every chunk under the same dedup id and reads the same results; when a run
 * is no longer kept its marker goes first, so the next map with the key starts a new run. A new
 * name is the only clean start: JetStream keeps a message id in its duplicate window (2 minutes)
 * even after the message is purged.
 *
 * The marker expires with the result stream's `max_age` (1 h); a restart later than that starts a
 * new run.
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
  /** The map's results reader: `stop` ends the reading, `close` deletes consumer and results. */
  readonly reader?: { stop(): Promise<void>; close(): Promise<void> } | undefined;
}

/**
 * The keyed maps of one pool: which keys are live (one live map per key), the maps that ended
 * and whose results are kept, and their clean-up.
 *
 * A keyed map that ends removes its leftover tasks at once but keeps its run (marker, consumer,
 * results) until the pool starts its next keyed map or closes: the caller saves its checkpoint
 * between the two (a loop does, after the body), so a coordinator killed after the map ended and
 * before that checkpoint was saved, and restarted, finds every result of the map and runs none
 * of it again. A new map with the same key on this pool starts a new run (the kept one is removed
 * first); a new map with another key removes the kept ones in the background; a new map with a
 * key looks its run up only once the clean-up of that key is done, so it never reuses names
 * being purged.
 */
export class KeyedRuns {
  readonly #nats: NatsHandle;
  readonly #names: PoolNames;
  readonly #pool: string;
  readonly #live = new Set<string>();
  /** Ended maps whose run is kept, by key id. */
  readonly #kept = new Map<string, KeyedLink>();
  /** The clean-up in progress, by key id. */
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

  /** Mark `keyId` live and look up its run id (the kept runs removed, see the class doc). */
  open(keyId: string): Promise<string> {
    this.#live.add(keyId);
    for (const [kept, link] of [...this.#kept]) this.#forget(kept, link);
    const ended = this.#ending.get(keyId) ?? Promise.resolve();
    return ended.then(() => openKeyedRun(this.#nats, this.#names, this.#pool, keyId));
  }

  /** The map of `keyId` ended: remove its leftover tasks, keep its run (see the class doc). */
  end(keyId: string, link: KeyedLink): Promise<void> {
    this.#live.delete(keyId);
    this.#kept.set(keyId, link);
    return this.#chain(keyId, async () => {
      await link.opening;
      await link.reader?.stop();
      if (link.id === "") return;
      await Promise.allSettled([...link.publishing]);
      const filter = tasksSubject(this.#pool, link.id);
      await this.#nats.jsm.streams.purge(this.#names.stream, { filter }).catch(() => {});
    });
  }

  /** Remove every kept run (the pool closes); resolves once every clean-up is done. */
  async close(): Promise<void> {
    for (const [kept, link] of [...this.#kept]) this.#forget(kept, link);
    await Promise.allSettled([...this.#ending.values()]);
  }

  /**
   * Remove a kept run: its marker first (a crash after that starts a new run, never one whose
   * results are gone), then its consumer and its results.
   */
  #forget(keyId: string, link: KeyedLink): void {
    this.#kept.delete(keyId);
    void this.#chain(keyId, async () => {
      await endKeyedRun(this.#nats, this.#names, this.#pool, keyId).catch(() => {});
      await link.reader?.close();
    });
  }

  /** Run `step` after the clean-up of `keyId` in progress; never rejects. */
  #chain(keyId: string, step: () => Promise<void>): Promise<void> {
    const before = this.#ending.get(keyId) ?? Promise.resolve();
    const ending = before.then(step).catch(() => {});
    this.#ending.set(keyId, ending);
    return ending.finally(() => {
      if (this.#ending.get(keyId) === ending) this.#ending.delete(keyId);
    });
  }
}
