/**
 * pipeline: DAGs of processing nodes.
 *
 * @module
 */

export { CycleError, Graph, GraphError } from "./graph.ts";
