/**
 * The one file of the NATS pool backend that names the npm client (versions pinned here only).
 * The lead points this at `src/nats/` (the shared connection module) when merging.
 *
 * @module
 */

export { connect, headers } from "npm:@nats-io/transport-node@3.4.0";
export type { MsgHdrs, NatsConnection, Subscription } from "npm:@nats-io/transport-node@3.4.0";
export {
  AckPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
} from "npm:@nats-io/jetstream@3.4.0";
export type {
  Consumer,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from "npm:@nats-io/jetstream@3.4.0";
