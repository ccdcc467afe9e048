/**
 * The one file of the state area that imports the NATS client (pinned versions). When the
 * connection module `src/nats/` lands, this file re-exports from it instead.
 *
 * @module
 */

export { connect } from "npm:@nats-io/transport-node@3.4.0";
export type { NatsConnection } from "npm:@nats-io/transport-node@3.4.0";
export { Kvm } from "npm:@nats-io/kv@3.4.0";
export type { KV } from "npm:@nats-io/kv@3.4.0";
export { Objm } from "npm:@nats-io/obj@3.4.0";
export type { ObjectStore } from "npm:@nats-io/obj@3.4.0";
