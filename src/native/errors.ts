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
