/**
 * The transport seam: what a worker backend implements so the pool can run workers on it. The
 * pool's slots, dispatch and maps only see {@linkcode WorkerTransport} and
 * {@linkcode WorkerEndpoint}; each backend lives in its own file (`thread_transport.ts`,
 * `process_transport.ts`) and `transportOf` (transport_of.ts) is the one place that picks one by `kind`.
 *
 * @module
 */

/**
 * Main-side handle on one running worker, whatever carries its messages.
 *
 * What a backend must guarantee:
 * - **Ordering**: messages posted to one endpoint arrive at the worker in the order posted, and
 *   the worker's messages reach {@linkcode EndpointEvents.message} in the order it sent them.
 * - **Delivery**: a posted message is delivered once, or the worker dies (and `exit` reports
 *   it). A message is never dropped while the worker lives; nothing arrives twice.
 * - **Copy semantics**: `post` gives the worker its own copy of `message` (structured clone or
 *   an equivalent encoding); a value that cannot be encoded makes `post` throw synchronously,
 *   with nothing sent. `probe` throws for the same values, without sending anything.
 */
export interface WorkerEndpoint {
  /**
   * Send a message. `transfer` lists ArrayBuffers to move instead of copy; a backend that cannot
   * move memory (a process, a network) copies them and may leave them usable on this side.
   */
  post(message: unknown, transfer?: Transferable[]): void;
  /**
   * Stop the worker now and release every resource it holds. Resolves once it is gone (or, for
   * a backend with {@linkcode WorkerTransport.mayOutliveTerminate}, once it was asked to).
   * After `terminate()`, no event of this endpoint is reported any more (not even `exit`).
   */
  terminate(): Promise<void>;
  /** Throw when `value` cannot be sent by `post` (the same encoder, nothing sent). */
  probe(value: unknown): void;
}

/** Callbacks an endpoint reports to. */
export interface EndpointEvents {
  /** A message from the worker (in the order the worker sent them). */
  message(message: unknown): void;
  /**
   * The worker died on its own (not through `terminate`): reported **exactly once** per
   * endpoint, after every message it sent before dying, never after `terminate()`. `reason` is a
   * sentence for an error message; `error`, when there is one, is what killed it.
   */
  exit(reason: string, error?: Error): void;
}

/** A worker backend: starts endpoints that run the pool's worker runtime. */
export interface WorkerTransport {
  /** The backend's `kind` (sent to each worker in its init message). */
  readonly kind: "worker" | "process";
  /**
   * Whether `terminate()` may leave a worker that is busy running JavaScript alive (Deno
   * threads). The pool then pings a worker before terminating it and reports one that does not
   * answer (`PoolWarning` `"thread-still-running"`).
   */
  readonly mayOutliveTerminate: boolean;
  /**
   * Start one worker running the pool runtime (`worker_runtime.ts`), reporting to `events`.
   * Throws synchronously when the worker cannot be started at all.
   */
  start(events: EndpointEvents): WorkerEndpoint;
}
