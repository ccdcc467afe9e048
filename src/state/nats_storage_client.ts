/**
 * The one file of the state area that names the NATS client: it re-exports, from the connection
 * area (`src/nats/`, where the client's versions are pinned once and the one checked connect
 * lives), what the JetStream snapshot storage uses.
 *
 * @module
 */

export { connect, Kvm, Objm } from "../nats/client.ts";
export type { JetStreamManager, KV, NatsConnection, ObjectStore } from "../nats/client.ts";
export { connectNats, type NatsHandle } from "../nats/connect.ts";
export type { NatsConnectOptions, NatsTlsOptions } from "../nats/options.ts";
