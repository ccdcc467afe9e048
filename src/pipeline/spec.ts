/**
 * Node specifications of a pipeline, their validation and their rates.
 *
 * @module
 */

import { optionalBoolean } from "../_internal/options.ts";
import { assertInteger, InvalidArgumentError } from "../errors.ts";
import type { NatsPool } from "../pool/nats/nats_pool.ts";
import type { WorkerPool } from "../pool/worker_pool.ts";
import { PipelineBuildError } from "./errors.ts";

/** Any node function (sync or async). */
// deno-lint-ignore no-explicit-any
export type NodeFunction = (...args: any[]) => unknown;

/** Options every node kind accepts. */
export interface NodeOptions {
  /** Upstream node names, in the order their items reach the function (positional args). */
  inputs: readonly string[];
  /** Inputs per call: the function receives an array of `consume` items (default 1). The
   * last, partial group is processed at the end of the input. */
  consume?: number;
  /** Outputs per call: the result must be an array of `produce` items, split into as many
   * outputs (or, with `repeat`, the result is emitted `produce` times). Default 1. */
  produce?: number;
  /** Emit the result `produce` times instead of splitting it. */
  repeat?: boolean;
  /** Calls in flight at once for function nodes (results stay in input order). Default 1. */
  spawn?: number;
  /** `"fail"` (default): a throwing function fails the run. `"dead-letter"`: the item and its
   * error go to `run.deadLetters` and the run goes on (downstream zips stay aligned). */
  errors?: "fail" | "dead-letter";
}

/** A function node: `fn(...inputs)` (or `fn(group)` with `consume > 1`). */
export interface FunctionNodeSpec extends NodeOptions {
  /** Sync or async function of the inputs, in declared order. */
  fn: NodeFunction;
}

/** A chain of functions applied left to right; each `[fn, ...args]` gets extra arguments. */
export interface ChainNodeSpec extends NodeOptions {
  /** The functions: the first receives the inputs (then its extra args), the next ones the
   * previous result (then their extra args). */
  chain: readonly (NodeFunction | readonly [NodeFunction, ...unknown[]])[];
}

/** A parallel node: each item is processed by a worker of `pool` (shared pools are fair). */
export interface PoolNodeSpec extends NodeOptions {
  /**
   * A started `WorkerPool` (threads or processes) or `NatsPool` (remote workers): the node uses
   * only `map`, whose contract both keep. Several nodes (and other maps) may share it.
   */
  // deno-lint-ignore no-explicit-any
  pool: WorkerPool<any> | NatsPool<any>;
  /** Results in input order (default `true`; forced while checkpointing). */
  ordered?: boolean;
  /** Inputs per message to a worker (default 1), see `pool.map`. */
  chunkSize?: number | "auto";
  /** Window of the pool map (see `pool.map`). */
  maxInFlight?: number;
}

/** A stateful node: `fn(state, ...inputs)`; `state` is saved at every checkpoint. */
export interface StatefulNodeSpec<S> extends NodeOptions {
  /** The initial state (copied per run): a JSON value, a typed array, or a plain object whose
   * typed-array fields are stored as binary. Mutate it in place inside `fn`. */
  state: S;
  /** The function; it receives the live state first. */
  // deno-lint-ignore no-explicit-any
  fn: (state: S, ...args: any[]) => unknown;
}

/** Any node specification. */
export type NodeSpec =
  | FunctionNodeSpec
  | ChainNodeSpec
  | PoolNodeSpec
  // deno-lint-ignore no-explicit-any
  | StatefulNodeSpec<any>;

/** A rate: outputs per source item, as the fraction `num / den`. */
export interface Rate {
  /** Numerator. */
  readonly num: number;
  /** Denominator. */
  readonly den: number;
}

/** A node as the runtime sees it. */
export interface ResolvedNode {
  name: string;
  kind: "source" | "fn" | "chain" | "pool" | "state";
  inputs: string[];
  consume: number;
  produce: number;
  repeat: boolean;
  spawn: number;
  errors: "fail" | "dead-letter";
  fn?: NodeFunction;
  chain?: { fn: NodeFunction; args: unknown[] }[];
  pool?: PoolNodeSpec["pool"];
  ordered: boolean;
  chunkSize?: number | "auto";
  maxInFlight?: number;
  initial?: unknown;
  rate: Rate;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** `r * produce / consume`, reduced. */
export function scaleRate(r: Rate, produce: number, consume: number): Rate {
  const num = r.num * produce;
  const den = r.den * consume;
  const g = gcd(num, den);
  return { num: num / g, den: den / g };
}

/** `value`, an integer >= 1, or `fallback` when it is undefined. */
function countOf(action: string, name: string, value: unknown, fallback: number): number {
  return value === undefined ? fallback : assertInteger(action, name, value, 1);
}

/** The kind of a node spec (fn, chain, pool or state), the kinds it mixes refused. */
function kindOf(action: string, spec: Record<string, unknown>): ResolvedNode["kind"] {
  const kinds = ["fn", "chain", "pool"].filter((k) => spec[k] !== undefined);
  const stateful = "state" in spec;
  if (spec.pool !== undefined) {
    if (kinds.length > 1 || stateful) {
      throw new PipelineBuildError(action, "a pool node takes no fn, chain or state", {
        received: kinds,
      });
    }
    const pool = spec.pool as { map?: unknown };
    if (pool === null || typeof pool !== "object" || typeof pool.map !== "function") {
      throw new InvalidArgumentError(action, "pool must be a WorkerPool or a NatsPool", {
        received: spec.pool,
      });
    }
    return "pool";
  }
  if (spec.chain !== undefined) {
    if (kinds.length > 1 || stateful) {
      throw new PipelineBuildError(action, "a chain node takes no fn, pool or state", {
        received: kinds,
      });
    }
    return "chain";
  }
  if (typeof spec.fn === "function") return stateful ? "state" : "fn";
  throw new PipelineBuildError(action, "the spec needs fn, chain or pool", { received: spec.fn });
}

/** The calls in flight of a node of `kind`: above 1 only for function and chain nodes. */
function spawnOf(action: string, kind: ResolvedNode["kind"], value: unknown): number {
  const spawn = countOf(action, "spawn", value, 1);
  if (kind === "state" && spawn > 1) {
    throw new PipelineBuildError(
      action,
      "a stateful node runs one call at a time (spawn 1)",
      { received: spawn },
    );
  }
  if (kind === "pool" && spawn > 1) {
    throw new PipelineBuildError(action, "a pool node's parallelism is the pool's size", {
      received: spawn,
    });
  }
  return spawn;
}

/** A chain's entries as `{fn, args}`. */
function chainOf(action: string, chain: unknown): NonNullable<ResolvedNode["chain"]> {
  if (!Array.isArray(chain) || chain.length === 0) {
    throw new InvalidArgumentError(action, "chain must be a non-empty array", {
      received: chain,
    });
  }
  return (chain as unknown[]).map((entry) => {
    if (typeof entry === "function") return { fn: entry as NodeFunction, args: [] };
    if (Array.isArray(entry) && typeof entry[0] === "function") {
      return { fn: entry[0] as NodeFunction, args: entry.slice(1) };
    }
    throw new InvalidArgumentError(action, "each chain entry is fn or [fn, ...args]", {
      received: entry,
    });
  });
}

/** Validate a spec and resolve it (without rates). */
export function resolveSpec(name: string, spec: NodeSpec): Omit<ResolvedNode, "rate"> {
  const action = `add node ${JSON.stringify(name)}`;
  if (spec === null || typeof spec !== "object") {
    throw new InvalidArgumentError(action, "the spec must be an object", { received: spec });
  }
  if (!Array.isArray(spec.inputs) || spec.inputs.length === 0) {
    throw new PipelineBuildError(
      action,
      "inputs must be a non-empty array of node names (use source() for entry points)",
      { received: spec.inputs },
    );
  }
  const s = spec as unknown as Record<string, unknown>;
  const kind = kindOf(action, s);
  const consume = countOf(action, "consume", s.consume, 1);
  const produce = countOf(action, "produce", s.produce, 1);
  const spawn = spawnOf(action, kind, s.spawn);
  const errors = s.errors ?? "fail";
  if (errors !== "fail" && errors !== "dead-letter") {
    throw new InvalidArgumentError(action, 'errors must be "fail" or "dead-letter"', {
      received: errors,
    });
  }
  const repeat = optionalBoolean(action, "repeat", s.repeat) ?? false;
  const chain = kind === "chain" ? chainOf(action, s.chain) : undefined;
  const ordered = optionalBoolean(action, "ordered", s.ordered) ?? true;
  return {
    name,
    kind,
    inputs: [...spec.inputs],
    consume,
    produce,
    repeat,
    spawn,
    errors,
    fn: kind === "fn" || kind === "state" ? s.fn as NodeFunction : undefined,
    chain,
    pool: kind === "pool" ? s.pool as ResolvedNode["pool"] : undefined,
    ordered,
    chunkSize: s.chunkSize as number | "auto" | undefined,
    maxInFlight: s.maxInFlight as number | undefined,
    initial: kind === "state" ? s.state : undefined,
  };
}
