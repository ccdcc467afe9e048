/**
 * Typed errors of the native area.
 *
 * @module
 */

import { SpoolError } from "../errors.ts";

/** The native module could not be loaded while `SPOOL_NATIVE=1` (or `implementation: "native"`) requires it. */
export class NativeLoadError extends SpoolError {}

/** The producer of a {@linkcode RingQueue} or of a `workerPrefetch` failed, or its Worker died. */
export class ProducerError extends SpoolError {}

/** Set `error.cause` (SpoolError's constructor prints `received` when given one, even undefined). */
export function withCause<E extends Error>(error: E, cause: unknown): E {
  Object.defineProperty(error, "cause", { value: cause, writable: true, configurable: true });
  return error;
}
