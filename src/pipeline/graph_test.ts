import assert from "node:assert/strict";
import { CycleError, Graph, GraphError } from "./graph.ts";
import { InvalidArgumentError } from "../errors.ts";

function diamond(): Graph {
  return new Graph()
    .addNode("src")
    .addNode("left", ["src"])
    .addNode("right", ["src"])
    .addNode("join", ["right", "left"]);
}

Deno.test("Graph keeps each node's declared input order", () => {
  const g = diamond();
  assert.deepEqual(g.inputsOf("join"), ["right", "left"]);
  assert.deepEqual(g.outputsOf("src"), ["left", "right"]);
  assert.deepEqual(g.sources(), ["src"]);
  assert.deepEqual(g.sinks(), ["join"]);
});

Deno.test("Graph topological order is deterministic and respects edges", () => {
  const g = diamond().addNode("late").addEdge("late", "join");
  const order = g.topologicalOrder();
  assert.deepEqual(order, ["src", "left", "right", "late", "join"]);
  for (const n of order) {
    for (const i of g.inputsOf(n)) assert.ok(order.indexOf(i) < order.indexOf(n));
  }
  assert.deepEqual(
    Object.fromEntries(g.ranks()),
    { src: 0, left: 1, right: 1, late: 0, join: 2 },
  );
});

Deno.test("Graph refuses cycle-closing edges, self edges and duplicates", () => {
  const g = diamond();
  assert.throws(() => g.addEdge("join", "src"), CycleError);
  assert.throws(() => g.addEdge("left", "left"), CycleError);
  assert.throws(() => g.addEdge("src", "left"), GraphError);
  assert.throws(() => g.addNode("src"), GraphError);
  assert.throws(() => g.addNode("x", ["nope"]), /Cannot add node "x": its input is not a node/);
  assert.throws(() => g.addNode("y", ["src", "src"]), GraphError);
  assert.throws(() => g.addNode("a/b"), InvalidArgumentError);
  assert.throws(() => g.addNode(""), InvalidArgumentError);
  // the failed calls changed nothing
  assert.deepEqual(g.nodes(), ["src", "left", "right", "join"]);
  assert.deepEqual(g.inputsOf("src"), []);
});

Deno.test("Graph removeNode refuses nodes that others read unless forced", () => {
  const g = diamond();
  assert.throws(() => g.removeNode("left"), /other nodes read from it/);
  g.removeNode("join");
  assert.deepEqual(g.sinks(), ["left", "right"]);
  g.removeNode("src", { force: true });
  assert.deepEqual(g.nodes(), ["left", "right"]);
  assert.deepEqual(g.inputsOf("left"), []);
  assert.throws(() => g.removeNode("src"), GraphError);
  assert.throws(() => g.removeEdge("left", "right"), GraphError);
});

Deno.test("Graph renders Mermaid and DOT", () => {
  const g = diamond().addNode("alone");
  assert.equal(
    g.toMermaid(),
    'flowchart LR\n  n0["src"]\n  n1["left"]\n  n2["right"]\n  n3["join"]\n  n4["alone"]\n' +
      "  n0 --> n1\n  n0 --> n2\n  n2 -->|0| n3\n  n1 -->|1| n3\n",
  );
  const dot = g.toDot();
  assert.match(dot, /^digraph spool \{/);
  assert.match(dot, /n3 \[label="join"\];/);
  assert.match(dot, /n2 -> n3 \[label="0"\];/);
  assert.match(dot, /n1 -> n3 \[label="1"\];/);
});
