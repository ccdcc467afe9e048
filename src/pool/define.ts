/**
 * The worker-module side of the pool: `defineWorker` and the types that tie a worker module to
 * the `pool.map` caller.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { checkKeys, isRecord, optionalFunction } from "../_internal/options.ts";

const DEFINITION_KEYS = ["init", "process", "dispose"] as const;

/**
 * Check a worker definition: an object with a `process` function, optional `init` and `dispose`
 * functions, and no other key (a typo such as `dispoze` would silently never run).
 *
 * @param action what was attempted ("define a worker", "load the worker module")
 * @param definition the candidate
 */
export function checkDefinition(action: string, definition: unknown): void {
  if (!isRecord(definition) || typeof definition.process !== "function") {
    throw new InvalidArgumentError(
      action,
      "the definition needs a process(state, input) function",
      { received: definition },
    );
  }
  checkKeys(action, definition, DEFINITION_KEYS, "key");
  optionalFunction(action, "init", definition.init);
  optionalFunction(action, "dispose", definition.dispose);
}

/** What a worker's `init` learns about its place in the pool. */
export interface WorkerContext {
  /** 0-based worker index (stable across restarts of that worker). */
  readonly index: number;
  /** Number of workers in the pool. */
  readonly size: number;
  /** `"worker"` (a Deno Worker thread) or `"process"` (a child process). */
  readonly kind: "worker" | "process";
}

/**
 * A worker module's default export: how to build the state once, how to process one input with
 * it, and optionally how to dispose of it when the pool closes.
 */
export interface WorkerDefinition<Args, State, Input extends unknown[], Output> {
  /** Build this worker's state from the merged init arguments (shared overlaid by per-worker). */
  init?: (args: Args, context: WorkerContext) => State;
  /** Process one input (or, with `spread`, positional arguments) with the state. */
  process: (state: Awaited<State>, ...input: Input) => Output;
  /** Release the state when the pool closes (called with a time limit). */
  dispose?: (state: Awaited<State>) => void | Promise<void>;
}

/** Any worker definition (used as a type bound). */
// deno-lint-ignore no-explicit-any
export type AnyWorkerDefinition = WorkerDefinition<any, any, any, any>;

/** The init argument type of a worker definition. */
export type InitArgsOf<D> = D extends WorkerDefinition<infer A, infer _S, infer _I, infer _O> ? A
  : never;
/** The positional arguments `process` takes after the state (the item type with `spread`). */
export type ArgsOf<D> = D extends WorkerDefinition<infer _A, infer _S, infer I, infer _O> ? I
  : never;
/** The single input type of `process` (the item type without `spread`). */
export type InputOf<D> = ArgsOf<D> extends [infer First, ...unknown[]] ? First
  : ArgsOf<D> extends [] ? undefined
  : ArgsOf<D>[0];
/** The result type of `process` (promises unwrapped). */
export type OutputOf<D> = D extends WorkerDefinition<infer _A, infer _S, infer _I, infer O>
  ? Awaited<O>
  : never;

/**
 * Declare a worker module's behaviour with full type inference; export the result as the
 * module's default export. It returns its argument unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineWorker, type WorkerContext } from "@spool/spool";
 *
 * // Annotate init's parameters: the state type is inferred from what init returns.
 * const worker = defineWorker({
 *   init: (args: { factor: number }, { index }: WorkerContext) => ({ factor: args.factor, id: index }),
 *   process: (state, x: number) => ({ y: x * state.factor, by: state.id }),
 * });
 * // export default worker;   (in the worker module)
 * assert.ok(worker.process({ factor: 2, id: 0 }, 21).y === 42);
 * ```
 */
export function defineWorker<Args, State, Input extends unknown[], Output>(
  definition: WorkerDefinition<Args, State, Input, Output>,
): WorkerDefinition<Args, State, Input, Output> {
  checkDefinition("define a worker", definition);
  return definition;
}
