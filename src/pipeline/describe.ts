/**
 * Diagrams of a pipeline's graph: Mermaid flowcharts and Graphviz DOT.
 *
 * Node ids are generated (`n0`, `n1`, ... in the order given) and names are only ever written as
 * quoted, escaped labels, so no name can collide with a keyword of either language (a Mermaid
 * node named `end` used to end the flowchart) or break the syntax (spaces, quotes, brackets).
 *
 * @module
 */

/** A node as a diagram sees it: its name and its inputs, in declared order. */
export interface DiagramNode {
  /** The node's name (shown as its label). */
  readonly name: string;
  /** The nodes it reads from, in the order its function receives them. */
  readonly inputs: readonly string[];
}

/** Ids by name, in the order given: `n0`, `n1`, ... (inputs not listed get ids too). */
function idsOf(nodes: readonly DiagramNode[]): Map<string, string> {
  const ids = new Map<string, string>();
  const add = (name: string) => {
    if (!ids.has(name)) ids.set(name, `n${ids.size}`);
  };
  for (const n of nodes) add(n.name);
  for (const n of nodes) for (const i of n.inputs) add(i);
  return ids;
}

/** A Mermaid label: entity codes for the characters Mermaid (or its HTML labels) interprets. */
function mermaidLabel(name: string): string {
  const codes: Record<string, string> = {
    '"': "#quot;",
    "#": "#35;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
  };
  return `"${name.replace(/["#<>&`]/g, (c) => codes[c]!).replace(/[\r\n\t]/g, " ")}"`;
}

/** A DOT quoted string: `\` and `"` escaped, line breaks as `\n`. */
function dotString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\r?\n|\r/g, "\\n")}"`;
}

/**
 * A Mermaid flowchart (`flowchart LR`): one `id["name"]` line per node, then one edge per input;
 * a node with several inputs labels each edge with the input's position.
 */
export function toMermaid(nodes: readonly DiagramNode[]): string {
  const ids = idsOf(nodes);
  const lines = ["flowchart LR"];
  for (const [name, id] of ids) lines.push(`  ${id}[${mermaidLabel(name)}]`);
  for (const n of nodes) {
    const to = ids.get(n.name)!;
    n.inputs.forEach((i, k) => {
      const from = ids.get(i)!;
      lines.push(n.inputs.length > 1 ? `  ${from} -->|${k}| ${to}` : `  ${from} --> ${to}`);
    });
  }
  return lines.join("\n") + "\n";
}

/**
 * A Graphviz DOT digraph: one `id [label="name"]` line per node, then one edge per input labelled
 * with the input's position.
 */
export function toDot(nodes: readonly DiagramNode[]): string {
  const ids = idsOf(nodes);
  const lines = ["digraph spool {", "  rankdir=LR;"];
  for (const [name, id] of ids) lines.push(`  ${id} [label=${dotString(name)}];`);
  for (const n of nodes) {
    const to = ids.get(n.name)!;
    n.inputs.forEach((i, k) => lines.push(`  ${ids.get(i)!} -> ${to} [label="${k}"];`));
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
