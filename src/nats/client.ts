/**
 * The one place spool imports the NATS client: the npm packages and their pinned versions. Every
 * other file (library, tests) takes what it uses from here, so an upgrade is one edit.
 *
 * @module
 */

export {
  AuthorizationError,
  connect,
  ConnectionError,
  credsAuthenticator,
  headers,
  nkeyAuthenticator,
  nkeys,
  TimeoutError as NatsTimeoutError,
} from "npm:@nats-io/transport-node@3.4.0";
export type {
  MsgHdrs,
  NatsConnection,
  NodeConnectionOptions,
  Subscription,
} from "npm:@nats-io/transport-node@3.4.0";
// the transport's parts, for the guarded transport of transport.ts
export {
  NatsConnectionImpl,
  setTransportFactory,
} from "npm:@nats-io/transport-node@3.4.0/lib/nats-base-client.js";
export {
  nodeResolveHost,
  NodeTransport,
} from "npm:@nats-io/transport-node@3.4.0/lib/node_transport.js";
export {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "npm:@nats-io/jetstream@3.4.0";
export type {
  Consumer,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
  PubAck,
} from "npm:@nats-io/jetstream@3.4.0";
export { Kvm } from "npm:@nats-io/kv@3.4.0";
export type { KV, KvOptions } from "npm:@nats-io/kv@3.4.0";
export { Objm } from "npm:@nats-io/obj@3.4.0";
export type { ObjectStore, ObjectStoreOptions } from "npm:@nats-io/obj@3.4.0";
