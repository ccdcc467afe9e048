/**
 * The server-side objects of a NATS pool: the work-queue stream of its tasks, the durable pull
 * consumer every worker shares, the work-queue stream of its results, and the stream that keeps
 * the server's advisories of tasks given up (`max_deliver` reached). Both sides call
 * {@linkcode ensurePool}; the first creates them.
 *
 * @module
 */

import { AckPolicy, type JetStreamManager, RetentionPolicy, StorageType } from "./client.ts";
import { type PoolNames, RESULT_MAX_AGE_MS } from "./protocol.ts";

/** Nanoseconds per millisecond (JetStream durations are in nanoseconds). */
export const NS = 1_000_000;

/** The task consumer's limits, as created (or as found when another side created it). */
export interface ConsumerLimits {
  /** Redelivery delay of an unacknowledged task, ms. */
  ackWaitMs: number;
  /** Deliveries of a task before the server gives it up (-1: unbounded). */
  maxDeliveries: number;
}

/** Create stream `name` unless it exists (another side may create it between our two calls). */
async function ensureStream(
  jsm: JetStreamManager,
  config: Parameters<JetStreamManager["streams"]["add"]>[0] & { name: string },
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config).catch(async (e) => {
      await jsm.streams.info(config.name).catch(() => Promise.reject(e));
    });
  }
}

/**
 * Create the task stream, the worker consumer and the result stream if they do not exist yet.
 *
 * @param jsm a JetStream manager
 * @param names the pool's names
 * @param limits `ack_wait` and `max_deliver` of the task consumer (used when creating it)
 * @returns the consumer's limits (the existing ones if another side created it)
 */
export async function ensurePool(
  jsm: JetStreamManager,
  names: PoolNames,
  limits: ConsumerLimits,
): Promise<ConsumerLimits> {
  await ensureStream(jsm, {
    name: names.stream,
    subjects: [names.tasks],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  await ensureStream(jsm, {
    name: names.resultStream,
    subjects: [names.results],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    max_age: RESULT_MAX_AGE_MS * NS,
  });
  await ensureStream(jsm, {
    name: names.advisoryStream,
    subjects: [names.advisories],
    storage: StorageType.File,
    max_age: RESULT_MAX_AGE_MS * NS,
  });
  const found = (info: { config: { ack_wait?: number; max_deliver?: number } }) => ({
    ackWaitMs: (info.config.ack_wait ?? limits.ackWaitMs * NS) / NS,
    maxDeliveries: info.config.max_deliver ?? -1,
  });
  try {
    return found(await jsm.consumers.info(names.stream, names.consumer));
  } catch {
    const info = await jsm.consumers.add(names.stream, {
      durable_name: names.consumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: limits.ackWaitMs * NS,
      max_deliver: limits.maxDeliveries,
      max_ack_pending: -1,
    }).catch(() => jsm.consumers.info(names.stream, names.consumer));
    return found(info);
  }
}
