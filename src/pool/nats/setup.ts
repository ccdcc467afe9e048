/**
 * The server-side objects of a NATS pool: the work-queue stream of its tasks and the durable pull
 * consumer every worker shares. Both sides call {@linkcode ensurePool}; the first creates them.
 *
 * @module
 */

import { AckPolicy, type JetStreamManager, RetentionPolicy } from "./client.ts";
import type { PoolNames } from "./protocol.ts";

/** Nanoseconds per millisecond (JetStream durations are in nanoseconds). */
const NS = 1_000_000;

/**
 * Create the task stream and the worker consumer if they do not exist yet.
 *
 * @param jsm a JetStream manager
 * @param names the pool's names
 * @param ackWaitMs redelivery delay of an unacknowledged task (used when creating the consumer)
 * @returns the consumer's `ack_wait`, ms (the existing one if another side created it)
 */
export async function ensurePool(
  jsm: JetStreamManager,
  names: PoolNames,
  ackWaitMs: number,
): Promise<number> {
  try {
    await jsm.streams.info(names.stream);
  } catch {
    await jsm.streams.add({
      name: names.stream,
      subjects: [names.tasks],
      retention: RetentionPolicy.Workqueue,
    }).catch(async (e) => {
      // another side created it between our two calls
      await jsm.streams.info(names.stream).catch(() => Promise.reject(e));
    });
  }
  try {
    const info = await jsm.consumers.info(names.stream, names.consumer);
    return (info.config.ack_wait ?? ackWaitMs * NS) / NS;
  } catch {
    const info = await jsm.consumers.add(names.stream, {
      durable_name: names.consumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ackWaitMs * NS,
      max_ack_pending: -1,
    }).catch(() => jsm.consumers.info(names.stream, names.consumer));
    return (info.config.ack_wait ?? ackWaitMs * NS) / NS;
  }
}
