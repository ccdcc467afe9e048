/**
 * nats: the connection to a NATS server with JetStream, which the distributed WorkerPool,
 * StateStore and Pipeline build on (see docs/distributed.md).
 *
 * @module
 */

export { connectNats, type NatsHandle } from "./connect.ts";
export { NatsConnectError } from "./errors.ts";
export type { NatsConnectOptions, NatsTlsOptions } from "./options.ts";
