/**
 * pipeline: DAGs of processing nodes with checked rates, fan-out/fan-in, pool-backed parallel
 * nodes, stateful nodes, run control and barrier-aligned checkpoints.
 *
 * @module
 */

export { CycleError, Graph, GraphError } from "./graph.ts";
export {
  Pipeline,
  type PipelineOptions,
  type RunResult,
  type RunToCompletionOptions,
} from "./pipeline.ts";
export { PipelineRun } from "./run.ts";
export type {
  DeadLetter,
  PipelineEvent,
  PipelineRunOptions,
  SinkEntry,
  SourceInput,
} from "./run_types.ts";
export type {
  ChainNodeSpec,
  FunctionNodeSpec,
  NodeFunction,
  NodeOptions,
  NodeSpec,
  PoolNodeSpec,
  Rate,
  StatefulNodeSpec,
} from "./spec.ts";
export {
  CheckpointError,
  HoleError,
  NodeError,
  PipelineBuildError,
  PipelineTimeoutError,
  RatioError,
} from "./errors.ts";
export {
  fileSink,
  type FileSinkOptions,
  joinInputs,
  jsonDecode,
  jsonEncode,
  lineSource,
  ndjsonSource,
  passInput,
  selectInputs,
  zipInputs,
} from "./nodes.ts";
export type {
  FunctionRef,
  NodeDescription,
  PipelineDescription,
  PoolDescription,
  SinkDescription,
  SourceDescription,
} from "./description.ts";
export { parseDescription, type ParseDescriptionOptions } from "./description_check.ts";
export { type LoadedPipeline, loadPipeline, type LoadPipelineOptions } from "./loader.ts";
