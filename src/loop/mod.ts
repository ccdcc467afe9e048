/**
 * loop: `StatefulLoop` — ordered processing with bound state, per-site frame buffers flushed by
 * memory limit, atomic checkpoints during the run and exact resume. Re-exported by the root
 * mod.ts.
 *
 * @module
 */

export { LoopCheckpointError, LoopMisuseError, LoopStateError } from "./errors.ts";
export type { Flush, SiteInfo } from "./buffers.ts";
export { StatefulLoop } from "./loop.ts";
export type { LoopIterator, LoopStep } from "./loop_iteration.ts";
export type {
  BufferOptions,
  CheckpointOptions,
  IterateOptions,
  StatefulLoopOptions,
} from "./loop_options.ts";
export type { AnyFunction, BindFunctionOptions, BindObjectOptions } from "./state_binding.ts";
