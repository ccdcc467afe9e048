/**
 * Typed errors of the stateful loop.
 *
 * @module
 */

import { SpoolError } from "../errors.ts";

/**
 * The loop was used in a way it cannot honour: `buffer()` outside `iterate`, a second
 * `iterate()` on one loop, binding state after iteration started, a buffer site whose keys or
 * adapter change, data left in a site the final pass did not reach, a loop used after it stopped
 * in the middle of an item.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LoopMisuseError, StatefulLoop } from "@spool/spool";
 *
 * const dir = await Deno.makeTempDir();
 * await using loop = await StatefulLoop.open(dir);
 * try {
 *   loop.buffer("main", {});
 * } catch (error) {
 *   assert.ok(error instanceof LoopMisuseError);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class LoopMisuseError extends SpoolError {}

/**
 * A state binding is invalid: a duplicate or missing name, a state key that is not a parameter
 * of the function, an attribute the object does not have, a value that cannot be checkpointed or
 * restored in place.
 */
export class LoopStateError extends SpoolError {}

/** The checkpoint at the loop's path was written by an incompatible version or is not a loop's. */
export class LoopCheckpointError extends SpoolError {}
