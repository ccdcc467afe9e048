/**
 * A directed acyclic graph of named nodes, where each node declares its inputs by name, in
 * order. The order a node declares is the order its inputs reach it (never re-sorted).
 *
 * @module
 */

import { InvalidArgumentError, SpoolError } from "../errors.ts";
import { optionalBoolean, optionsOf } from "../_internal/options.ts";
import { type DiagramNode, toDot, toMermaid } from "./describe.ts";

/** A graph change that would close a cycle. */
export class CycleError extends SpoolError {}

/** A graph change that names a node that does not exist, or one that already exists. */
export class GraphError extends SpoolError {}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

function checkName(action: string, name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new InvalidArgumentError(
      action,
      "a node name must start with a letter or _ and contain only letters, digits, _ . : - (at most 128 characters)",
      { received: name },
    );
  }
  return name;
}

/**
 * A DAG of named nodes with ordered inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Graph } from "@spool/spool";
 *
 * const g = new Graph();
 * g.addNode("read");
 * g.addNode("parse", ["read"]);
 * g.addNode("stats", ["parse"]);
 * g.addNode("errors", ["parse"]);
 * assert.ok(g.topologicalOrder().join() === "read,parse,stats,errors");
 * assert.ok(g.sinks().join() === "stats,errors");
 * assert.ok(g.toMermaid().includes('n1["parse"]'));
 * ```
 */
export class Graph {
  #inputs = new Map<string, string[]>();
  #outputs = new Map<string, string[]>();

  /** Number of nodes. */
  get size(): number {
    return this.#inputs.size;
  }

  /** Whether a node named `name` exists. */
  has(name: string): boolean {
    return this.#inputs.has(name);
  }

  /** Node names in insertion order. */
  nodes(): string[] {
    return [...this.#inputs.keys()];
  }

  /**
   * Add a node reading from `inputs` (existing nodes, in the order given). A node may read the
   * same upstream once only.
   */
  addNode(name: string, inputs: readonly string[] = []): this {
    const action = `add node ${JSON.stringify(name)}`;
    checkName("add node", name);
    if (this.#inputs.has(name)) {
      throw new GraphError(action, "a node with this name exists", { received: name });
    }
    if (!Array.isArray(inputs)) {
      throw new InvalidArgumentError(action, "inputs must be an array of node names", {
        received: inputs,
      });
    }
    const seen = new Set<string>();
    for (const input of inputs) {
      if (!this.#inputs.has(input)) {
        throw new GraphError(action, "its input is not a node of the graph", { received: input });
      }
      if (seen.has(input)) {
        throw new GraphError(action, "an input is listed twice", { received: input });
      }
      seen.add(input);
    }
    this.#inputs.set(name, [...inputs]);
    this.#outputs.set(name, []);
    for (const input of inputs) this.#outputs.get(input)!.push(name);
    return this;
  }

  /**
   * Make `to` read from `from` (appended after its current inputs).
   * @throws {CycleError} when `to` already reaches `from` (or `from === to`).
   */
  addEdge(from: string, to: string): this {
    const action = `connect ${JSON.stringify(from)} to ${JSON.stringify(to)}`;
    this.#require(action, from);
    this.#require(action, to);
    if (from === to || this.reaches(to, from)) {
      throw new CycleError(action, "the edge would close a cycle", { received: [from, to] });
    }
    const ins = this.#inputs.get(to)!;
    if (ins.includes(from)) {
      throw new GraphError(action, "the edge exists", { received: [from, to] });
    }
    ins.push(from);
    this.#outputs.get(from)!.push(to);
    return this;
  }

  /** Remove the edge `from -> to`. */
  removeEdge(from: string, to: string): this {
    const action = `remove edge ${JSON.stringify(from)} -> ${JSON.stringify(to)}`;
    this.#require(action, from);
    this.#require(action, to);
    const ins = this.#inputs.get(to)!;
    const i = ins.indexOf(from);
    if (i < 0) throw new GraphError(action, "there is no such edge", { received: [from, to] });
    ins.splice(i, 1);
    const outs = this.#outputs.get(from)!;
    outs.splice(outs.indexOf(to), 1);
    return this;
  }

  /**
   * Remove a node. Refused while other nodes read from it, unless `force` (which also removes
   * those edges).
   */
  removeNode(name: string, options: { force?: boolean } = {}): this {
    const action = `remove node ${JSON.stringify(name)}`;
    const force = optionalBoolean(action, "force", optionsOf(action, options, ["force"]).force);
    this.#require(action, name);
    const outs = this.#outputs.get(name)!;
    if (outs.length > 0 && !force) {
      throw new GraphError(action, "other nodes read from it (pass force: true)", {
        received: [...outs],
      });
    }
    for (const down of [...outs]) this.removeEdge(name, down);
    for (const up of [...this.#inputs.get(name)!]) this.removeEdge(up, name);
    this.#inputs.delete(name);
    this.#outputs.delete(name);
    return this;
  }

  /** The nodes `name` reads from, in its declared order. */
  inputsOf(name: string): string[] {
    this.#require("get inputs", name);
    return [...this.#inputs.get(name)!];
  }

  /** The nodes that read from `name`, in the order they connected. */
  outputsOf(name: string): string[] {
    this.#require("get outputs", name);
    return [...this.#outputs.get(name)!];
  }

  /** Nodes with no inputs (the graph's entry points), in insertion order. */
  sources(): string[] {
    return this.nodes().filter((n) => this.#inputs.get(n)!.length === 0);
  }

  /** Nodes nobody reads from (the graph's outputs), in insertion order. */
  sinks(): string[] {
    return this.nodes().filter((n) => this.#outputs.get(n)!.length === 0);
  }

  /**
   * Whether a path leads from `from` to `to` (a node reaches itself).
   *
   * @throws {GraphError} when `from` or `to` is not a node.
   */
  reaches(from: string, to: string): boolean {
    const action = `check whether ${JSON.stringify(from)} reaches ${JSON.stringify(to)}`;
    this.#require(action, from);
    this.#require(action, to);
    const stack = [from];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n === to) return true;
      if (seen.has(n)) continue;
      seen.add(n);
      for (const d of this.#outputs.get(n) ?? []) stack.push(d);
    }
    return false;
  }

  /**
   * Nodes in an order where every node comes after all of its inputs; ties are broken by
   * insertion order, so the result is deterministic.
   */
  topologicalOrder(): string[] {
    const pending = new Map<string, number>();
    for (const [n, ins] of this.#inputs) pending.set(n, ins.length);
    const order: string[] = [];
    const names = this.nodes();
    const done = new Set<string>();
    while (order.length < names.length) {
      const next = names.find((n) => !done.has(n) && pending.get(n) === 0);
      if (next === undefined) break; // unreachable: edges are checked for cycles
      done.add(next);
      order.push(next);
      for (const d of this.#outputs.get(next)!) pending.set(d, pending.get(d)! - 1);
    }
    return order;
  }

  /** Rank of each node: 0 for sources, else 1 + the highest rank among its inputs. */
  ranks(): Map<string, number> {
    const rank = new Map<string, number>();
    for (const n of this.topologicalOrder()) {
      const ins = this.#inputs.get(n)!;
      rank.set(n, ins.length === 0 ? 0 : 1 + Math.max(...ins.map((i) => rank.get(i)!)));
    }
    return rank;
  }

  /**
   * A Mermaid flowchart of the graph (`flowchart LR`): generated ids, names as quoted labels
   * (see `describe.ts`), edges labelled with the input's position when a node has several.
   */
  toMermaid(): string {
    return toMermaid(this.#diagramNodes());
  }

  /** A Graphviz DOT description of the graph; edge labels give each input's position. */
  toDot(): string {
    return toDot(this.#diagramNodes());
  }

  #diagramNodes(): DiagramNode[] {
    return this.topologicalOrder().map((name) => ({ name, inputs: this.#inputs.get(name)! }));
  }

  #require(action: string, name: string): void {
    if (!this.#inputs.has(name)) {
      throw new GraphError(`${action}`, "no node has this name", { received: name });
    }
  }
}
