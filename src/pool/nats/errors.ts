/**
 * Errors of the NATS pool backend.
 *
 * @module
 */

import { SpoolError } from "../../errors.ts";

/**
 * A chunk's task could not be published to the pool's stream (the server refused it, or the
 * connection closed): every input of the chunk fails with it (the cause is the client's error).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TaskPublishError } from "./errors.ts";
 * const err = new TaskPublishError("publish chunk 3", "the server refused it", { received: "x" });
 * assert.ok(err.message.startsWith("Cannot publish chunk 3: the server refused it"));
 * ```
 */
export class TaskPublishError extends SpoolError {}

/**
 * A map's results could not be read from the pool's result stream (its consumer could not be
 * created, or the server deleted it while the map ran): the map fails with it (the cause is the
 * client's error).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ResultReadError } from "./errors.ts";
 * const err = new ResultReadError("read the results of a map", "the consumer was deleted");
 * assert.ok(err.message.startsWith("Cannot read the results of a map: the consumer was deleted"));
 * ```
 */
export class ResultReadError extends SpoolError {}

/**
 * An input's task reached the pool's `maxDeliveries` without being acknowledged: every worker
 * that took it died or stalled (a poison input, or a synchronous `process` that blocked its
 * worker past `ack_wait`). The input fails with it (wrapped in the map's `TaskError`) per the
 * map's error policy; its neighbours in the chunk were sent again one by one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeliveryLimitError } from "./errors.ts";
 * const err = new DeliveryLimitError("run input #7", "its task was delivered 3 times", {
 *   received: 3,
 * });
 * assert.ok(err.message.startsWith("Cannot run input #7: its task was delivered 3 times"));
 * ```
 */
export class DeliveryLimitError extends SpoolError {}
