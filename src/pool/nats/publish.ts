/**
 * A JetStream publish that rides out a reconnect: {@linkcode publishRetrying} tries again (same
 * `msgID`, so the stream stores the message once) while the connection is open and the deadline
 * has not passed. A server restarting on its store, or a coordinator or worker reconnecting,
 * costs a delay, not a lost task or result.
 *
 * @module
 */

import type { JetStreamClient, MsgHdrs, NatsConnection, PubAck } from "./client.ts";

/** How long a publish keeps trying before its error is final, ms. */
export const PUBLISH_DEADLINE_MS = 60_000;
/** Wait between tries: the first, then doubled up to the last. */
const FIRST_WAIT_MS = 100;
const LAST_WAIT_MS = 2_000;

/** What a publish needs. */
export interface PublishTarget {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
}

/**
 * Publish `data` on `subject` with `msgID`; on an error, try again until the PubAck comes, the
 * connection is closed, `stopped()` says so, or `deadlineMs` passed (then the last error is
 * thrown).
 */
export async function publishRetrying(
  target: PublishTarget,
  subject: string,
  data: Uint8Array,
  options: { msgID: string; headers: MsgHdrs },
  stopped: () => boolean = () => false,
  deadlineMs = PUBLISH_DEADLINE_MS,
): Promise<PubAck> {
  const end = performance.now() + deadlineMs;
  let wait = FIRST_WAIT_MS;
  for (;;) {
    try {
      return await target.js.publish(subject, data, options);
    } catch (e) {
      if (target.nc.isClosed() || stopped() || performance.now() + wait > end) throw e;
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, LAST_WAIT_MS);
  }
}
