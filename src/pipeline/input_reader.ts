/**
 * Reading a node's inputs: one input passes through; several are zipped in declared order, with
 * checkpoint barriers aligned (an input whose barrier arrived waits until every open input
 * delivered the same barrier), holes propagated, and the tuples left unzipped at the end
 * reported. Also the slot encoding a checkpoint stores the queued inputs in.
 *
 * @module
 */

import { BARRIER, type Edge, END, HOLE, HOLE_MESSAGE, ITEM, type Message } from "./edge.ts";
import type { SavedMessage } from "./checkpoint_codec.ts";
import type { PipelineEvent } from "./run_types.ts";

/** Stands for a hole inside a `consume` group. */
export const HOLE_VALUE: unique symbol = Symbol("hole");

/** A queued message as a checkpoint slot. */
export function toSlot(m: Message): SavedMessage {
  return m.kind === ITEM ? [0, m.value] : [1];
}
/** A checkpoint slot as a queued message. */
export function fromSlot(s: SavedMessage): Message {
  return s[0] === 0 ? { kind: ITEM, value: s[1] } : HOLE_MESSAGE;
}
/** A partial `consume` group as checkpoint slots. */
export function groupSlots(group: unknown[]): SavedMessage[] {
  return group.map((v) => (v === HOLE_VALUE ? [1] : [0, v]));
}
/** A restored partial `consume` group (holes as `HOLE_VALUE`). */
export function groupOf(slots: SavedMessage[] | undefined): unknown[] {
  return (slots ?? []).map((s) => (s[0] === 0 ? s[1] : HOLE_VALUE));
}
/** The good items of a `consume` group (holes left out, order kept). */
export function goodOf(group: unknown[]): unknown[] {
  return group.includes(HOLE_VALUE) ? group.filter((v) => v !== HOLE_VALUE) : group;
}

/**
 * Called with the zipped heads when some (not all) of them are holes, and at the end with the
 * heads of each tuple left unzipped (`undefined` for an input that had ended), with the tuple's
 * offset after the last zipped one.
 */
export type ZipHoleHandler = (heads: (Message | undefined)[], offset: number) => void;

/** Reads a node's inputs: zips several inputs in declared order and aligns barriers. */
export class InputReader {
  /** The node's input edges, in declared order. */
  readonly edges: Edge[];
  /** Per input: items and holes taken from its edge, waiting for the other inputs. */
  readonly queued: Message[][];
  /** Per input: the checkpoint whose barrier it delivered (it is not read until aligned). */
  readonly blocked: (number | undefined)[];
  /** Per input: whether its end arrived. */
  readonly ended: boolean[];
  /** Whether every end seen so far was a flush (sources exhausted, not stopped). */
  flush = true;
  readonly #log: (event: PipelineEvent) => void;
  readonly #node: string;
  readonly #onHole: ZipHoleHandler | undefined;

  /**
   * @param log where the `zip-leftover` event goes
   * @param node the reading node's name
   * @param edges its input edges
   * @param restored the queued slots its checkpoint recorded
   * @param onHole see {@linkcode ZipHoleHandler}
   */
  constructor(
    log: (event: PipelineEvent) => void,
    node: string,
    edges: Edge[],
    restored?: SavedMessage[][],
    onHole?: ZipHoleHandler,
  ) {
    this.#log = log;
    this.#node = node;
    this.#onHole = onHole;
    this.edges = edges;
    this.queued = edges.map((_, i) => (restored?.[i] ?? []).map(fromSlot));
    this.blocked = edges.map(() => undefined);
    this.ended = edges.map(() => false);
  }

  /** The queued inputs as checkpoint slots (one input: nothing is queued). */
  snapshot(): SavedMessage[][] | undefined {
    if (this.edges.length < 2) return undefined;
    return this.queued.map((q) => q.map(toSlot));
  }

  /** The next message if one is ready without waiting (several inputs: ITEM's value is the
   * args array), else `undefined`. */
  poll(): Message | undefined {
    const edges = this.edges;
    if (edges.length === 1) return edges[0]!.tryPull();
    const n = edges.length;
    for (;;) {
      let all = true;
      for (let i = 0; i < n; i++) {
        if (this.queued[i]!.length === 0) {
          all = false;
          break;
        }
      }
      if (all) {
        const heads = this.queued.map((q) => q.shift()!);
        let holes = 0;
        for (const h of heads) if (h.kind === HOLE) holes++;
        if (holes > 0) {
          // The good items zipped with a hole go to the dead letters (never silently).
          if (holes < heads.length) this.#onHole?.(heads, 0);
          return HOLE_MESSAGE;
        }
        return { kind: ITEM, value: heads.map((h) => (h as { value: unknown }).value) };
      }
      let progressed = false;
      for (let i = 0; i < n; i++) {
        if (this.blocked[i] !== undefined || this.ended[i]) continue;
        const m = edges[i]!.tryPull();
        if (m === undefined) continue;
        progressed = true;
        if (m.kind === ITEM || m.kind === HOLE) this.queued[i]!.push(m);
        else if (m.kind === BARRIER) this.blocked[i] = m.checkpoint;
        else {
          this.ended[i] = true;
          if (!m.flush) this.flush = false;
        }
      }
      if (progressed) continue;
      let open = 0;
      let k: number | undefined;
      for (let i = 0; i < n; i++) {
        if (this.blocked[i] !== undefined) k = this.blocked[i];
        else if (!this.ended[i]) open++;
      }
      if (open === 0 && k !== undefined) {
        this.blocked.fill(undefined);
        return { kind: BARRIER, checkpoint: k };
      }
      if (open === 0) {
        const left = this.queued.reduce((a, q) => a + q.length, 0);
        if (left > 0) {
          this.#log({ type: "zip-leftover", node: this.#node, items: left });
          if (this.flush) {
            // Some inputs ended before others (sources of different lengths): the items left
            // cannot be zipped; they go to the dead letters rather than vanish.
            const depth = Math.max(...this.queued.map((q) => q.length));
            for (let j = 0; j < depth; j++) this.#onHole?.(this.queued.map((q) => q[j]), j);
            for (const q of this.queued) q.length = 0;
          }
        }
        return { kind: END, flush: this.flush };
      }
      return undefined;
    }
  }

  /** The next message, waiting for it. */
  async next(): Promise<Message> {
    const edges = this.edges;
    if (edges.length === 1) {
      const e = edges[0]!;
      return e.tryPull() ?? await e.pull();
    }
    const n = edges.length;
    for (;;) {
      const m = this.poll();
      if (m !== undefined) return m;
      await new Promise<void>((resolve) => {
        for (let i = 0; i < n; i++) {
          if (this.blocked[i] === undefined && !this.ended[i]) edges[i]!.listener = resolve;
        }
      });
      for (const e of edges) e.listener = undefined;
    }
  }
}
