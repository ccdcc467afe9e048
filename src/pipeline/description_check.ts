/**
 * Checking a JSON pipeline description: the rules of `pipeline.schema.json` plus what a schema
 * cannot say (unique names, inputs naming earlier nodes, pools, source and sink names that
 * exist). Every problem is collected, so one error lists them all.
 *
 * @module
 */

import { isRecord, Problems } from "../_internal/options.ts";
import { InvalidArgumentError } from "../errors.ts";
import { DESCRIPTION_KEYS, loadActionOf, type PipelineDescription } from "./description.ts";
import { allKeys, Checker, pathSegment } from "./description_checker.ts";
import { checkNatsPool, checkNatsStore } from "./description_nats.ts";

/** What the node checks learn for the later sections: the names, and which are read. */
interface NodeScope {
  /** The description's `pools` (as found: maybe not an object). */
  readonly pools: unknown;
  /** Names of the nodes checked so far. */
  readonly names: Set<string>;
  /** Names some node lists as an input. */
  readonly read: Set<string>;
  /** Names of the source nodes. */
  readonly sourceNodes: string[];
}

type NodeKind = "source" | "fn" | "chain" | "pool";

function checkPools(checker: Checker, pools: unknown): void {
  if (pools === undefined || !checker.record("pools", pools, "pools by name")) return;
  for (const [name, pool] of Object.entries(pools)) {
    const path = `pools${pathSegment(name)}`;
    if (!checker.record(path, pool, "{module, size?, init?, kind?, export?, nats?}")) continue;
    checker.problems.keys(path, pool, DESCRIPTION_KEYS.pool);
    checker.string(`${path}.module`, pool.module, true);
    checker.integer(`${path}.size`, pool.size, 1);
    checker.oneOf(`${path}.kind`, pool.kind, ["worker", "process", "nats"]);
    checker.string(`${path}.export`, pool.export);
    if (pool.kind === "nats") checkNatsPool(checker, path, pool);
    else if (pool.nats !== undefined) {
      checker.problems.add(`${path}.nats`, 'is only for kind "nats"', pool.kind);
    }
  }
}

/** The nodes' checks; undefined when `nodes` is not an array (the later name checks skip). */
function checkNodes(checker: Checker, nodes: unknown, pools: unknown): NodeScope | undefined {
  if (!Array.isArray(nodes)) {
    checker.problems.add(
      "nodes",
      "must be an array of nodes (the description needs a nodes array)",
      nodes,
    );
    return undefined;
  }
  const scope: NodeScope = { pools, names: new Set(), read: new Set(), sourceNodes: [] };
  nodes.forEach((node: unknown, index: number) => checkNode(checker, node, index, scope));
  return scope;
}

function checkNode(checker: Checker, node: unknown, index: number, scope: NodeScope): void {
  let path = `nodes[${index}]`;
  if (!checker.record(path, node, "{name, inputs, fn | chain | pool} or {name, source: true}")) {
    return;
  }
  if (checker.string(`${path}.name`, node.name, true)) {
    const name = node.name as string;
    path = `nodes${pathSegment(name)}`;
    if (scope.names.has(name)) {
      checker.problems.add(`${path}.name`, "another node has this name", name);
    }
  }
  const kind = nodeKindOf(checker, path, node);
  if (kind !== "source") checkNodeInputs(checker, path, node, kind, scope);
  if (kind === "fn") checker.functionRef(`${path}.fn`, node.fn, DESCRIPTION_KEYS.functionRef);
  if (kind === "chain") checkChain(checker, path, node.chain);
  if (kind === "pool") checkNodePool(checker, path, node.pool, scope.pools);
  checkNodeSettings(checker, path, node);
  if (typeof node.name === "string") {
    scope.names.add(node.name);
    if (kind === "source") scope.sourceNodes.push(node.name);
  }
}

/** The node's kind (the one of source: true, fn, chain, pool it has), its keys checked. */
function nodeKindOf(
  checker: Checker,
  path: string,
  node: Record<string, unknown>,
): NodeKind | undefined {
  const problems = checker.problems;
  if (node.source !== undefined && node.source !== true) {
    problems.add(`${path}.source`, "must be true (leave it out for other nodes)", node.source);
  }
  const kinds = DESCRIPTION_KEYS.node;
  const present = (["source", "fn", "chain", "pool"] as const).filter((k) =>
    node[k] !== undefined && (k !== "source" || node.source === true)
  );
  if (present.length === 0) {
    const before = problems.size;
    problems.keys(path, node, allKeys(kinds));
    if (problems.size === before) {
      problems.add(path, "a node needs one of source: true, fn, chain, pool", node);
    }
    return undefined;
  }
  if (present.length > 1) {
    problems.add(path, "a node takes only one of source, fn, chain, pool", present);
    return undefined;
  }
  const kind = present[0]!;
  problems.keys(path, node, kinds[kind]);
  return kind;
}

function checkNodeInputs(
  checker: Checker,
  path: string,
  node: Record<string, unknown>,
  kind: NodeKind | undefined,
  scope: NodeScope,
): void {
  const inputs = node.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    if (kind !== undefined) {
      checker.problems.add(
        `${path}.inputs`,
        'must be a non-empty array of node names (use "source": true for entry points)',
        inputs,
      );
    }
    return;
  }
  inputs.forEach((input: unknown, k: number) => {
    if (typeof input !== "string" || !scope.names.has(input)) {
      checker.problems.add(
        `${path}.inputs[${k}]`,
        "must name a node listed before this one (nodes come after their inputs)",
        input,
      );
    } else scope.read.add(input);
  });
}

function checkChain(checker: Checker, path: string, chain: unknown): void {
  if (!Array.isArray(chain) || chain.length === 0) {
    checker.problems.add(`${path}.chain`, "must be a non-empty array of functions", chain);
    return;
  }
  chain.forEach((entry: unknown, k: number) =>
    checker.functionRef(`${path}.chain[${k}]`, entry, DESCRIPTION_KEYS.chainEntry)
  );
}

function checkNodePool(checker: Checker, path: string, pool: unknown, pools: unknown): void {
  if (!checker.string(`${path}.pool`, pool, true)) return;
  if (!isRecord(pools) || !Object.hasOwn(pools, pool as string)) {
    const known = isRecord(pools) ? Object.keys(pools).join(", ") || "none" : "none";
    checker.problems.add(`${path}.pool`, `must name a pool of "pools" (pools: ${known})`, pool);
  }
}

/** The numbers, flags and policies a node may set. */
function checkNodeSettings(checker: Checker, path: string, node: Record<string, unknown>): void {
  for (const k of ["consume", "produce", "spawn", "maxInFlight"]) {
    checker.integer(`${path}.${k}`, node[k], 1);
  }
  checker.boolean(`${path}.repeat`, node.repeat);
  checker.boolean(`${path}.ordered`, node.ordered);
  checker.oneOf(`${path}.errors`, node.errors, ["fail", "dead-letter"]);
  if (node.chunkSize !== undefined && node.chunkSize !== "auto") {
    checker.integer(`${path}.chunkSize`, node.chunkSize, 1);
    if (typeof node.chunkSize !== "number") {
      checker.problems.add(
        `${path}.chunkSize`,
        'must be an integer >= 1 or "auto"',
        node.chunkSize,
      );
    }
  }
}

function checkSources(checker: Checker, sources: unknown, scope: NodeScope | undefined): void {
  if (
    sources === undefined || !checker.record("sources", sources, "sources by source node name")
  ) return;
  for (const [name, source] of Object.entries(sources)) {
    const path = `sources${pathSegment(name)}`;
    if (scope !== undefined && !scope.sourceNodes.includes(name)) {
      checker.problems.add(
        path,
        `must name a source node (source nodes: ${scope.sourceNodes.join(", ") || "none"})`,
        name,
      );
    }
    const what = "{lines}, {ndjson}, {range}, {items} or {module, export?}";
    if (checker.record(path, source, what)) checkSource(checker, path, source);
  }
}

function checkSource(checker: Checker, path: string, source: Record<string, unknown>): void {
  const kind = checker.kind(path, source, DESCRIPTION_KEYS.source, "a source");
  if (kind === "lines" || kind === "ndjson") {
    checker.string(`${path}.${kind}`, source[kind], true);
    checker.boolean(`${path}.follow`, source.follow);
  } else if (kind === "range") {
    if (!Number.isInteger(source.range) || (source.range as number) < 0) {
      checker.problems.add(`${path}.range`, "must be an integer >= 0", source.range);
    }
  } else if (kind === "items" && !Array.isArray(source.items)) {
    checker.problems.add(`${path}.items`, "must be an array", source.items);
  } else if (kind === "module") {
    checker.string(`${path}.module`, source.module, true);
    checker.string(`${path}.export`, source.export);
  }
}

function checkSinks(checker: Checker, sinks: unknown, scope: NodeScope | undefined): void {
  if (sinks === undefined || !checker.record("sinks", sinks, "sinks by sink node name")) return;
  const sinkNodes = scope === undefined ? [] : [...scope.names].filter((n) => !scope.read.has(n));
  for (const [name, sink] of Object.entries(sinks)) {
    const path = `sinks${pathSegment(name)}`;
    if (scope !== undefined && !sinkNodes.includes(name)) {
      checker.problems.add(
        path,
        `must name a sink node, one no other node reads (sinks: ${sinkNodes.join(", ") || "none"})`,
        name,
      );
    }
    if (!checker.record(path, sink, "{files}, {ndjson}, {stdout: true} or {discard: true}")) {
      continue;
    }
    const kind = checker.kind(path, sink, DESCRIPTION_KEYS.sink, "a sink");
    if (kind === "files" || kind === "ndjson") {
      checker.string(`${path}.${kind}`, sink[kind], true);
      checker.string(`${path}.extension`, sink.extension);
    } else if (kind !== undefined && sink[kind] !== true) {
      checker.problems.add(`${path}.${kind}`, "must be true", sink[kind]);
    }
  }
}

function checkRunSettings(checker: Checker, options: unknown): void {
  if (options === undefined || !checker.record("options", options, "{buffer?, sinkBuffer?}")) {
    return;
  }
  checker.problems.keys("options", options, DESCRIPTION_KEYS.options);
  checker.integer("options.buffer", options.buffer, 1);
  checker.integer("options.sinkBuffer", options.sinkBuffer, 1);
}

function checkCheckpoint(checker: Checker, checkpoint: unknown): void {
  if (
    checkpoint === undefined ||
    !checker.record("checkpoint", checkpoint, "{store, every?, keep?}")
  ) return;
  const problems = checker.problems;
  problems.keys("checkpoint", checkpoint, DESCRIPTION_KEYS.checkpoint);
  checkNatsStore(checker, checkpoint.store);
  checker.integer("checkpoint.keep", checkpoint.keep, 1);
  const every = checkpoint.every;
  if (every === undefined || !checker.record("checkpoint.every", every, "{items?, ms?}")) return;
  const before = problems.size;
  problems.keys("checkpoint.every", every, DESCRIPTION_KEYS.every);
  checker.integer("checkpoint.every.items", every.items, 1);
  const ms = every.ms;
  if (ms !== undefined && (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0)) {
    problems.add("checkpoint.every.ms", "must be a finite number > 0", ms);
  }
  if (every.items === undefined && ms === undefined && problems.size === before) {
    problems.add("checkpoint.every", "needs items, ms or both", every);
  }
}

/**
 * Check a parsed description against the rules of `pipeline.schema.json` plus what a schema
 * cannot say (unique names, inputs naming earlier nodes, pools, source and sink names that
 * exist); every problem is recorded in `problems`, in the order of the description's sections.
 */
export function checkDescription(description: unknown, problems: Problems): void {
  const checker = new Checker(problems);
  if (!checker.record("description", description, "with a nodes array")) return;
  problems.keys("description", description, DESCRIPTION_KEYS.description);
  checker.string("$schema", description.$schema);
  checkPools(checker, description.pools);
  const scope = checkNodes(checker, description.nodes, description.pools);
  checkSources(checker, description.sources, scope);
  checkSinks(checker, description.sinks, scope);
  checkRunSettings(checker, description.options);
  checkCheckpoint(checker, description.checkpoint);
}

/** Options of {@linkcode parseDescription}. */
export interface ParseDescriptionOptions {
  /** The description's file, named in error messages. */
  file?: string;
}

/**
 * Parse and check a description (from JSON text or an object): every problem (unknown keys with
 * the accepted ones, wrong types, inputs or pools that do not exist, sources and sinks naming
 * no such node) is reported at once in one {@linkcode InvalidArgumentError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidArgumentError, parseDescription } from "@spool/spool";
 *
 * const d = parseDescription('{"nodes": [{"name": "n", "source": true}], "sources": {"n": {"range": 3}}}');
 * assert.equal(d.nodes.length, 1);
 * assert.throws(() => parseDescription("{}"), InvalidArgumentError);
 * assert.throws(
 *   () => parseDescription({ nodes: [{ name: "n", source: true }], sinks: { n: { file: "out" } } }),
 *   /sinks\.n: unknown key "file" \(known: files, extension, ndjson, stdout, discard\)/,
 * );
 * ```
 */
export function parseDescription(
  input: string | unknown,
  options: ParseDescriptionOptions = {},
): PipelineDescription {
  const action = loadActionOf(options.file);
  let description = input;
  if (typeof input === "string") {
    try {
      description = JSON.parse(input);
    } catch (error) {
      throw new InvalidArgumentError(
        action,
        `the description is not valid JSON (${(error as Error).message})`,
        { received: input, cause: error },
      );
    }
  }
  const problems = new Problems();
  checkDescription(description, problems);
  problems.throwIfAny(action);
  return description as PipelineDescription;
}
