/**
 * What function and pool nodes share: starting a node, reading its inputs, and turning a call's
 * result into outputs (split by `produce`) or, for a failure, applying its error policy (holes
 * and dead letters, or failing the run). Also the dead letters of zips that met a hole.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { copyState } from "./checkpoint_codec.ts";
import { Cancelled, emit, HOLE, HOLE_MESSAGE, ITEM, type Message } from "./edge.ts";
import { HoleError, NodeError } from "./errors.ts";
import { HOLE_VALUE, InputReader } from "./input_reader.ts";
import type { NodeRuntime, RunContext } from "./run_context.ts";

/** Start node `rt`: a stateful node gets its state (restored, or a copy of its initial one). */
export function initNode(context: RunContext, rt: NodeRuntime): void {
  if (rt.def.kind === "state") {
    rt.state = rt.restored?.hasState ? rt.restored.state : copyState(rt.def.initial);
  }
  if (rt.fused) context.log({ type: "node-start", node: rt.def.name });
}

/**
 * Emit a result (split by `produce`) or, for a failure, apply the error policy. `position` and
 * `count`: the input slots of the call (for dead letters and errors).
 */
export function nodeResult(
  context: RunContext,
  rt: NodeRuntime,
  input: unknown,
  ok: boolean,
  value: unknown,
  position: number,
  count = 1,
  layout?: unknown[],
): Promise<void> | undefined {
  if (ok && rt.def.produce === 1) {
    rt.outputs++;
    return emit(rt.targets, { kind: ITEM, value: value });
  }
  return resultSlow(context, rt, input, ok, value, position, count, layout);
}

async function resultSlow(
  context: RunContext,
  rt: NodeRuntime,
  input: unknown,
  ok: boolean,
  value: unknown,
  position: number,
  count: number,
  layout: unknown[] | undefined,
): Promise<void> {
  const def = rt.def;
  if (ok && def.produce > 1 && !def.repeat) {
    if (
      layout !== undefined && def.produce === def.consume && Array.isArray(value) &&
      value.length === (input as unknown[]).length && value.length !== def.produce
    ) {
      // A short group (holes left out, or the last group) with one output per input: each
      // result takes its input's slot, holes fill the others (positions stay aligned).
      let j = 0;
      for (let i = 0; i < def.produce; i++) {
        const good = i < layout.length && layout[i] !== HOLE_VALUE;
        rt.outputs++;
        await emit(rt.targets, good ? { kind: ITEM, value: value[j++] } : HOLE_MESSAGE);
      }
      return;
    }
    if (!Array.isArray(value) || value.length !== def.produce) {
      ok = false;
      value = new InvalidArgumentError(
        `split the result of node ${JSON.stringify(def.name)}`,
        `with produce: ${def.produce} the function must return an array of ${def.produce} items`,
        { received: value },
      );
    }
  }
  if (!ok) {
    context.log({
      type: "node-error",
      node: def.name,
      position,
      item: input,
      error: value,
      policy: def.errors,
    });
    if (def.errors === "fail") {
      context.fail(new NodeError(def.name, input, value, position));
      throw new Cancelled(context.error);
    }
    rt.dead++;
    context.deadLetters.push({ node: def.name, position, count, item: input, error: value });
    for (let i = 0; i < def.produce; i++) {
      rt.outputs++;
      await emit(rt.targets, HOLE_MESSAGE);
    }
    return;
  }
  if (def.produce === 1) {
    rt.outputs++;
    await emit(rt.targets, { kind: ITEM, value: value });
  } else {
    for (let i = 0; i < def.produce; i++) {
      rt.outputs++;
      await emit(rt.targets, { kind: ITEM, value: def.repeat ? value : (value as unknown[])[i] });
    }
  }
}

/**
 * A fan-in node zipped a hole with good items (`heads`): the good ones cannot be processed
 * (the function needs every input), so they go to the dead letters with a `HoleError` naming
 * the inputs that had the hole. Called before the tuple's slot is counted in `rt.read`.
 */
export function zipHole(
  context: RunContext,
  rt: NodeRuntime,
  heads: (Message | undefined)[],
  offset: number,
): void {
  const def = rt.def;
  if (!heads.some((h) => h?.kind === ITEM)) return; // nothing good to report
  const names = (kind: typeof HOLE | undefined) =>
    def.inputs.filter((_, i) => heads[i]?.kind === kind);
  const holes = names(HOLE);
  const ended = names(undefined);
  const list = (ns: string[]) =>
    `input${ns.length > 1 ? "s" : ""} ${ns.map((n) => JSON.stringify(n)).join(", ")}`;
  const why = [
    holes.length > 0 ? `${list(holes)} had no item there (it failed upstream)` : "",
    ended.length > 0 ? `${list(ended)} ended before it` : "",
  ].filter((w) => w !== "").join(" and ");
  const position = rt.read + offset;
  const item = heads.map((h) => (h?.kind === ITEM ? h.value : undefined));
  const error = new HoleError(
    `zip the inputs of node ${JSON.stringify(def.name)} at position ${position}`,
    `${why}, so the items of the other inputs cannot be processed`,
    { received: item },
  );
  rt.zipDead++;
  context.log({ type: "node-error", node: def.name, position, item, error, policy: "dead-letter" });
  context.deadLetters.push({ node: def.name, position, count: 1, item, error });
}

/** Emit the `produce` holes of an input slot that was a hole. */
export async function emitHoles(rt: NodeRuntime): Promise<void> {
  for (let i = 0; i < rt.def.produce; i++) {
    rt.outputs++;
    await emit(rt.targets, HOLE_MESSAGE);
  }
}

/** The reader of a node's inputs, restored from its checkpoint; zip holes are reported. */
export function readerOf(context: RunContext, rt: NodeRuntime): InputReader {
  return new InputReader(
    (event) => context.log(event),
    rt.def.name,
    rt.inputs,
    rt.restored?.pending,
    (heads, offset) => zipHole(context, rt, heads, offset),
  );
}
