/**
 * The one file of the state area that names the NATS client: it re-exports, from the connection
 * area (`src/nats/client.ts`, where the client's versions are pinned once), what the JetStream
 * snapshot storage uses.
 *
 * @module
 */

export { connect, Kvm, Objm } from "../nats/client.ts";
export type { KV, NatsConnection, ObjectStore } from "../nats/client.ts";
