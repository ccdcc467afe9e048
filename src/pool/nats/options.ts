/**
 * The options of a NATS pool's two sides, checked once: {@linkcode NatsPoolOptions} (the
 * coordinator, `NatsPool.start`) and {@linkcode RemoteWorkerOptions} (`runRemoteWorker`). Both
 * carry the connection fields of `connectNats` (servers, credentials, TLS, name, connect
 * timeout), which are handed to `connectNats` as they are (it checks them itself); every other
 * key is checked here: an unknown key or a bad value is an `InvalidArgumentError`.
 *
 * @module
 */

import { assertInteger, InvalidArgumentError } from "../../errors.ts";
import {
  type Bag,
  optionalFunction,
  optionalSignal,
  optionalString,
  optionsOf,
} from "../../_internal/options.ts";
import type { NatsConnectOptions } from "./client.ts";
import { checkPoolName } from "./protocol.ts";
import { NATS_CONNECT_KEYS } from "../../nats/options.ts";

/** Default `ack_wait` of the task consumer, ms. */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/** Default `max_deliver` of the task consumer. */
export const DEFAULT_MAX_DELIVERIES = 3;
/**
 * Largest `ackWaitMs`: the longest delay a JS timer can wait (about 24.8 days). Far larger values
 * overflow the server's nanosecond `ack_wait`, and its consumer is then never created.
 */
export const MAX_ACK_WAIT_MS = 2 ** 31 - 1;
/** Largest coordinator `size`: the default window (`4 * size * depth`) is allocated per map. */
export const MAX_POOL_SIZE = 4096;
/** Largest coordinator `depth` (same reason as {@linkcode MAX_POOL_SIZE}). */
export const MAX_POOL_DEPTH = 1024;

/**
 * Options of `NatsPool.start`: the connection (the fields of `NatsConnectOptions`; `timeoutMs`
 * there is the connect timeout, not a map's per-input limit) and the pool.
 */
export interface NatsPoolOptions extends NatsConnectOptions {
  /** Pool name: the remote workers started with the same name serve this pool. */
  pool: string;
  /** Expected parallelism of the remote workers (sizes windows and chunks; default 8, max 4096). */
  size?: number;
  /**
   * Chunks in flight per unit of `size` (default 4, max 1024): `size * depth` chunks in flight at
   * most.
   */
  depth?: number;
  /** `ack_wait` of the task consumer if this side creates it (default 30000 ms, 100 to 2 ** 31 - 1). */
  ackWaitMs?: number;
  /**
   * Deliveries of one task before it is given up (`max_deliver` of the task consumer if this
   * side creates it; default 3): a chunk of several inputs is then split and its inputs sent
   * again one per task, a single input fails with a `DeliveryLimitError`.
   */
  maxDeliveries?: number;
}

/** Options of `runRemoteWorker`: the connection (fields of `NatsConnectOptions`) and the worker. */
export interface RemoteWorkerOptions extends NatsConnectOptions {
  /** Pool name (the coordinator's `pool`). */
  pool: string;
  /** The worker module (its export is a `defineWorker` definition). */
  module: string | URL;
  /** The export holding the definition (default `"default"`). */
  exportName?: string;
  /** Init arguments for `init(args, context)`. */
  args?: unknown;
  /** Tasks run at once by this worker (default 1). */
  concurrency?: number;
  /** This worker's index (`context.index`, and the `worker` of a TaskError; default 0). */
  index?: number;
  /** Number of workers (`context.size`; default 1). */
  size?: number;
  /** `ack_wait` used if this worker creates the task consumer (default 30000 ms, 100 to 2 ** 31 - 1). */
  ackWaitMs?: number;
  /** `max_deliver` used if this worker creates the task consumer (default 3). */
  maxDeliveries?: number;
  /** Stop: pull no more, finish the tasks held, dispose, close. */
  signal?: AbortSignal;
  /** Called once connected and initialised, before the first pull. */
  onReady?: () => void;
}

/** What the coordinator runs with. */
export interface CheckedPoolOptions {
  connect: NatsConnectOptions;
  pool: string;
  size: number;
  depth: number;
  ackWaitMs: number;
  maxDeliveries: number;
}

/** What a remote worker runs with. */
export interface CheckedWorkerOptions {
  connect: NatsConnectOptions;
  pool: string;
  module: string | URL;
  exportName: string;
  args: unknown;
  concurrency: number;
  index: number;
  size: number;
  ackWaitMs: number;
  maxDeliveries: number;
  signal: AbortSignal | undefined;
  onReady: (() => void) | undefined;
}

/** The connection fields of `bag`, with a default connection `name`. */
function connectOf(bag: Bag, name: string): NatsConnectOptions {
  const out: Bag = {};
  for (const key of NATS_CONNECT_KEYS) if (bag[key] !== undefined) out[key] = bag[key];
  out.name ??= name;
  return out as NatsConnectOptions;
}

/**
 * An integer `>= min` (the message of `assertInteger`), and at most `max` (its own message, so
 * the common mistake, a value too small, reads the same as everywhere else).
 */
function bounded(action: string, name: string, value: unknown, min: number, max: number): number {
  const n = assertInteger(action, name, value, min);
  if (n > max) {
    throw new InvalidArgumentError(action, `${name} must be at most ${max}`, { received: n });
  }
  return n;
}

/** `ackWaitMs` and `maxDeliveries`, checked, with their defaults. */
function consumerLimits(action: string, bag: Bag): { ackWaitMs: number; maxDeliveries: number } {
  return {
    ackWaitMs: bounded(
      action,
      "ackWaitMs",
      bag.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
      100,
      MAX_ACK_WAIT_MS,
    ),
    maxDeliveries: assertInteger(
      action,
      "maxDeliveries",
      bag.maxDeliveries ?? DEFAULT_MAX_DELIVERIES,
      1,
    ),
  };
}

/** Check the options of `NatsPool.start`. */
export function checkPoolOptions(action: string, options: unknown): CheckedPoolOptions {
  if (options === undefined) {
    throw new InvalidArgumentError(action, "options with a pool name are required", {
      received: options,
    });
  }
  const bag = optionsOf(action, options, [
    ...NATS_CONNECT_KEYS,
    "pool",
    "size",
    "depth",
    "ackWaitMs",
    "maxDeliveries",
  ]);
  const pool = checkPoolName(action, bag.pool);
  return {
    connect: connectOf(bag, `spool pool ${pool}`),
    pool,
    size: bounded(action, "size", bag.size ?? 8, 1, MAX_POOL_SIZE),
    depth: bounded(action, "depth", bag.depth ?? 4, 1, MAX_POOL_DEPTH),
    ...consumerLimits(action, bag),
  };
}

/** Check the options of `runRemoteWorker`. */
export function checkWorkerOptions(action: string, options: unknown): CheckedWorkerOptions {
  if (options === undefined) {
    throw new InvalidArgumentError(action, "options with a pool and a module are required", {
      received: options,
    });
  }
  const bag = optionsOf(action, options, [
    ...NATS_CONNECT_KEYS,
    "pool",
    "module",
    "exportName",
    "args",
    "concurrency",
    "index",
    "size",
    "ackWaitMs",
    "maxDeliveries",
    "signal",
    "onReady",
  ]);
  const pool = checkPoolName(action, bag.pool);
  const module = bag.module;
  if (!(module instanceof URL) && (typeof module !== "string" || module === "")) {
    throw new InvalidArgumentError(action, "module must be a URL or a path", { received: module });
  }
  const index = assertInteger(action, "index", bag.index ?? 0, 0);
  return {
    connect: connectOf(bag, `spool worker ${pool} #${index}`),
    pool,
    module,
    exportName: optionalString(action, "exportName", bag.exportName) ?? "default",
    args: bag.args,
    concurrency: assertInteger(action, "concurrency", bag.concurrency ?? 1, 1),
    index,
    size: assertInteger(action, "size", bag.size ?? 1, 1),
    ...consumerLimits(action, bag),
    signal: optionalSignal(action, "signal", bag.signal),
    onReady: optionalFunction<() => void>(action, "onReady", bag.onReady),
  };
}
