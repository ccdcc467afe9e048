/**
 * loop: `StatefulLoop` — ordered processing with bound state, per-site frame buffers flushed by
 * memory limit, atomic checkpoints during the run and exact resume. Re-exported by the root
 * mod.ts.
 *
 * @module
 */

export { LoopCheckpointError, LoopMisuseError, LoopStateError } from "./errors.ts";
export type { Flush, SiteInfo } from "./buffers.ts";
export {
  type AnyFunction,
  type BindFunctionOptions,
  type BindObjectOptions,
  type BufferOptions,
  type CheckpointOptions,
  type IterateOptions,
  type LoopIterator,
  type LoopStep,
  StatefulLoop,
  type StatefulLoopOptions,
} from "./loop.ts";
