/**
 * The one file of the NATS pool backend that names the NATS client: it re-exports, from the
 * connection area (`src/nats/client.ts`, where the client's versions are pinned once), what the
 * backend uses.
 *
 * @module
 */

export {
  AckPolicy,
  connect,
  headers,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
} from "../../nats/client.ts";
export type {
  Consumer,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
  MsgHdrs,
  NatsConnection,
  Subscription,
} from "../../nats/client.ts";
