/**
 * The one file of the NATS pool backend that names the NATS client: it re-exports, from the
 * connection area (`src/nats/`, where the client's versions are pinned once and `connectNats`
 * opens checked connections), what the backend uses.
 *
 * @module
 */

export {
  AckPolicy,
  DeliverPolicy,
  headers,
  Objm,
  RetentionPolicy,
  StorageType,
} from "../../nats/client.ts";
export type {
  Consumer,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
  MsgHdrs,
  NatsConnection,
  ObjectStore,
  PubAck,
  Subscription,
} from "../../nats/client.ts";
export { connectNats, type NatsHandle } from "../../nats/connect.ts";
export type { NatsConnectOptions } from "../../nats/options.ts";
