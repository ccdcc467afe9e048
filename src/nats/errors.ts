/**
 * Typed errors of the nats area.
 *
 * @module
 */

import { SpoolError } from "../errors.ts";

/**
 * A connection to NATS could not be made: no server reachable, the credentials refused, the
 * connect timed out, or the server has no JetStream. The client's own error is the `cause`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NatsConnectError, SpoolError } from "@spool/spool";
 * const err = new NatsConnectError("connect to NATS", "no server is reachable", {
 *   received: "nats://127.0.0.1:4222",
 * });
 * assert.ok(err instanceof SpoolError);
 * ```
 */
export class NatsConnectError extends SpoolError {}
