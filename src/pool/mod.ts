/**
 * pool: stateful worker pool with a lazy, bounded, ordered (or not) `map` over Deno Workers or
 * child processes (re-exported by the root mod.ts).
 *
 * @module
 */

export { WorkerPool } from "./worker_pool.ts";
export type { PoolOptions, PoolWarning, WorkerInsights } from "./pool_options.ts";
export type { ErrorPolicy, PoolMapOptions } from "./map_options.ts";
export type { Settled } from "./map_run.ts";
export { defineWorker } from "./define.ts";
export type {
  AnyWorkerDefinition,
  ArgsOf,
  InitArgsOf,
  InputOf,
  OutputOf,
  WorkerContext,
  WorkerDefinition,
} from "./define.ts";
export {
  CloneError,
  TaskError,
  WorkerCrashError,
  WorkerDisposeError,
  WorkerInitError,
} from "./errors.ts";
export type { EncodedError, EncodedThrown } from "./errors.ts";
export { NatsPool } from "./nats/nats_pool.ts";
export type { NatsPoolOptions, RemoteWorkerInsights } from "./nats/nats_pool.ts";
export { runRemoteWorker } from "./nats/remote_worker.ts";
export type { RemoteWorkerOptions } from "./nats/remote_worker.ts";
export { DeliveryLimitError, ResultReadError, TaskPublishError } from "./nats/errors.ts";
