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
import { markerSubject, type PoolNames } from "./protocol.ts";

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
