/**
 * Function nodes (`fn`, stateful `state`, `chain`): the call a node makes per input, the node's
 * task (inputs read, `consume` groups, a window of `spawn` calls in flight, barriers captured
 * after the calls before them settled), and the same node fused into its input's task.
 *
 * @module
 */

import { giveTurn, turnDue } from "../_internal/turn.ts";
import { Ring } from "../_internal/ring.ts";
import {
  type BarrierMessage,
  type ControlHandler,
  dispatchControl,
  emit,
  type EndMessage,
  HOLE_MESSAGE,
  ITEM,
  type Message,
  type Target,
} from "./edge.ts";
import { goodOf, groupOf, groupSlots, HOLE_VALUE, type InputReader } from "./input_reader.ts";
import { emitHoles, nodeResult, readerOf } from "./node_results.ts";
import type { NodeRuntime, RunContext } from "./run_context.ts";

/** The call node `rt` makes per input (several inputs: the args array is spread). */
export function callerOf(rt: NodeRuntime): (input: unknown) => unknown {
  const def = rt.def;
  const spread = def.inputs.length > 1 && def.consume === 1;
  if (def.kind === "fn") {
    const fn = def.fn!;
    return spread ? (input) => fn(...(input as unknown[])) : fn;
  }
  if (def.kind === "state") {
    const fn = def.fn!;
    return spread
      ? (input) => fn(rt.state, ...(input as unknown[]))
      : (input) => fn(rt.state, input);
  }
  const chain = def.chain!;
  const first = chain[0]!;
  return (input) => {
    let v = spread
      ? first.fn(...(input as unknown[]), ...first.args)
      : first.fn(input, ...first.args);
    for (let i = 1; i < chain.length; i++) {
      const step = chain[i]!;
      v = v instanceof Promise ? v.then((x) => step.fn(x, ...step.args)) : step.fn(v, ...step.args);
    }
    return v;
  };
}

/**
 * A node fused into its upstream's task: `tryPush` processes the message at once and returns
 * whether that finished synchronously; if not, `push` (called next by `emit`) awaits it.
 */
export class FusedNode implements Target, ControlHandler<Promise<void> | undefined> {
  readonly #context: RunContext;
  readonly #rt: NodeRuntime;
  readonly #call: (input: unknown) => unknown;
  #inProgress: Promise<void> | undefined;

  constructor(context: RunContext, rt: NodeRuntime) {
    this.#context = context;
    this.#rt = rt;
    this.#call = callerOf(rt);
  }

  tryPush(m: Message): boolean {
    const p = m.kind === ITEM ? this.#item(m.value) : dispatchControl(m, this);
    if (p === undefined) return true;
    this.#inProgress = p;
    return false;
  }

  async push(): Promise<void> {
    const p = this.#inProgress;
    this.#inProgress = undefined;
    await p;
  }

  #item(input: unknown): Promise<void> | undefined {
    const rt = this.#rt;
    const at = rt.read++;
    let v: unknown;
    try {
      v = this.#call(input);
    } catch (error) {
      return nodeResult(this.#context, rt, input, false, error, at);
    }
    if (v instanceof Promise) return this.#afterCall(input, v, at);
    return nodeResult(this.#context, rt, input, true, v, at);
  }

  async #afterCall(input: unknown, p: Promise<unknown>, at: number): Promise<void> {
    let ok = true;
    let v: unknown;
    try {
      v = await p;
    } catch (error) {
      ok = false;
      v = error;
    }
    await nodeResult(this.#context, this.#rt, input, ok, v, at);
  }

  hole(): Promise<void> | undefined {
    const rt = this.#rt;
    rt.read++;
    rt.outputs++;
    return emit(rt.targets, HOLE_MESSAGE);
  }

  barrier(m: BarrierMessage): Promise<void> | undefined {
    const rt = this.#rt;
    this.#context.barriers.capture(rt, m.checkpoint, {});
    return emit(rt.targets, m);
  }

  end(m: EndMessage): Promise<void> | undefined {
    const rt = this.#rt;
    if (m.flush) this.#context.barriers.endSnapshot(rt, {});
    this.#context.log({ type: "node-end", node: rt.def.name, outputs: rt.outputs });
    return emit(rt.targets, m);
  }
}

/** A call in the window of a node with `spawn > 1` (results are emitted in input order). */
interface WindowEntry {
  input: unknown;
  /** The call's outcome; `undefined` for a hole. */
  outcome: Promise<{ ok: boolean; v: unknown }> | undefined;
  /** The call's first input slot, and how many slots it covered. */
  at: number;
  count: number;
  /** A short group's slot layout (holes in place). */
  layout: unknown[] | undefined;
}

/** The task of a function node that is not fused: see {@linkcode runFunctionNode}. */
class FunctionNode implements ControlHandler<Promise<boolean>> {
  readonly #context: RunContext;
  readonly #rt: NodeRuntime;
  readonly #reader: InputReader;
  readonly #call: (input: unknown) => unknown;
  /** The partial `consume` group (holes as `HOLE_VALUE`). */
  #group: unknown[];
  readonly #window = new Ring<WindowEntry>();

  constructor(context: RunContext, rt: NodeRuntime) {
    this.#context = context;
    this.#rt = rt;
    this.#reader = readerOf(context, rt);
    this.#call = callerOf(rt);
    this.#group = groupOf(rt.restored?.group);
  }

  async run(): Promise<void> {
    const rt = this.#rt;
    const def = rt.def;
    const context = this.#context;
    const reader = this.#reader;
    const call = this.#call;
    const fast = def.consume === 1 && def.spawn === 1;
    for (;;) {
      if (turnDue()) await giveTurn();
      const m = reader.poll() ?? await reader.next();
      if (m.kind !== ITEM) {
        if (await dispatchControl(m, this)) return;
      } else if (fast) {
        // One call per item, awaited before the next: no window, no group.
        const at = rt.read++;
        let ok = true;
        let v: unknown;
        try {
          v = call(m.value);
          if (v instanceof Promise) v = await v;
        } catch (error) {
          ok = false;
          v = error;
        }
        const p = nodeResult(context, rt, m.value, ok, v, at);
        if (p) await p;
      } else if (def.consume === 1) await this.#submit(m.value, false, rt.read++, 1);
      else await this.#slot(m.value, false);
    }
  }

  hole(): Promise<boolean> {
    return this.#slot(undefined, true).then(() => false);
  }

  async barrier(m: BarrierMessage): Promise<boolean> {
    const rt = this.#rt;
    await this.#drain();
    this.#context.barriers.capture(rt, m.checkpoint, {
      group: groupSlots(this.#group),
      pending: this.#reader.snapshot(),
    });
    await emit(rt.targets, m);
    return false;
  }

  async end(m: EndMessage): Promise<boolean> {
    const rt = this.#rt;
    if (m.flush && this.#group.length > 0) await this.#submitGroup();
    await this.#drain();
    if (m.flush) {
      this.#context.barriers.endSnapshot(rt, {
        group: groupSlots(this.#group),
        pending: this.#reader.snapshot(),
      });
    }
    await emit(rt.targets, m);
    return true;
  }

  /** One input slot (an item, or a hole) taken. */
  async #slot(value: unknown, hole: boolean): Promise<void> {
    const rt = this.#rt;
    const at = rt.read++;
    if (rt.def.consume === 1) return await this.#submit(value, hole, at, 1);
    this.#group.push(hole ? HOLE_VALUE : value);
    if (this.#group.length === rt.def.consume) await this.#submitGroup();
  }

  async #submit(input: unknown, hole: boolean, at: number, count: number, layout?: unknown[]) {
    const rt = this.#rt;
    const def = rt.def;
    if (def.spawn === 1) {
      if (hole) return await emitHoles(rt);
      let ok = true;
      let v: unknown;
      try {
        v = this.#call(input);
        if (v instanceof Promise) v = await v;
      } catch (error) {
        ok = false;
        v = error;
      }
      return await nodeResult(this.#context, rt, input, ok, v, at, count, layout);
    }
    const outcome = hole ? undefined : this.#settle(input);
    this.#window.push({ input, outcome, at, count, layout });
    if (this.#window.length >= def.spawn) await this.#flushOne();
  }

  async #settle(input: unknown): Promise<{ ok: boolean; v: unknown }> {
    try {
      return { ok: true, v: await this.#call(input) };
    } catch (error) {
      return { ok: false, v: error };
    }
  }

  async #submitGroup(): Promise<void> {
    // A group spans `consume` input slots; the function gets the good items only (a hole
    // never takes its neighbours with it). A group of holes only is a hole.
    const g = this.#group;
    this.#group = [];
    const good = goodOf(g);
    const short = good !== g || g.length < this.#rt.def.consume;
    const at = this.#rt.read - g.length;
    await this.#submit(good, good.length === 0, at, g.length, short ? g : undefined);
  }

  async #flushOne(): Promise<void> {
    const head = this.#window.shift();
    if (head.outcome === undefined) return await emitHoles(this.#rt);
    const r = await head.outcome;
    await nodeResult(
      this.#context,
      this.#rt,
      head.input,
      r.ok,
      r.v,
      head.at,
      head.count,
      head.layout,
    );
  }

  async #drain(): Promise<void> {
    while (this.#window.length > 0) await this.#flushOne();
  }
}

/** Run the task of a function node that is not fused (it reads its own input edges). */
export function runFunctionNode(context: RunContext, rt: NodeRuntime): Promise<void> {
  return new FunctionNode(context, rt).run();
}
