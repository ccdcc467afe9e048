/**
 * `BarrierCoordinator`: all of a run's checkpoint state. It opens (loads) the checkpoint store,
 * asks the sources to inject barriers (`request`), collects what each node captured at a barrier
 * (`capture`, `endSnapshot`) and each sink's sequence number when the barrier reached it (`ack`,
 * `sinkEnded`), and commits a checkpoint once every sink acknowledged it, in checkpoint order.
 *
 * @module
 */

import { InvalidArgumentError, SpoolError } from "../errors.ts";
import { StateStore } from "../state/store.ts";
import { LatestStatesKeeper } from "../state/keepers.ts";
import type { NumericArray } from "../_internal/typed_arrays.ts";
import { promptTurns } from "../_internal/turn.ts";
import {
  checkCheckpoint,
  CheckpointComponent,
  type CheckpointData,
  type NodeSnapshot,
  type StateCopier,
} from "./checkpoint_codec.ts";
import { CheckpointError } from "./errors.ts";
import type {
  CheckpointPort,
  NodeRuntime,
  RunContext,
  SinkView,
  SourceRuntime,
} from "./run_context.ts";
import type { PipelineRunOptions } from "./run_types.ts";

/** A checkpoint whose barriers are still travelling: what was captured so far. */
interface OpenCheckpoint {
  checkpoint: number;
  positions: Record<string, number>;
  nodes: Record<string, NodeSnapshot>;
  sinks: Record<string, number>;
  /** State copies to release once the checkpoint is written. */
  buffers: { copier: StateCopier; used: NumericArray[] }[];
}

/**
 * A typed error of the store (a corrupt snapshot, a lock held) passes as it is; a raw file-system
 * error (the path is a file, a parent is missing or not writable) becomes a `CheckpointError`
 * naming the directory, with the original as `cause`.
 */
function storeError(error: unknown, dir: string): unknown {
  if (error instanceof SpoolError) return error;
  return new CheckpointError(
    "open the checkpoint store",
    `its directory cannot be used (${
      error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    })`,
    { received: dir, cause: error },
  );
}

/** Every checkpoint of one run, from request to commit. */
export class BarrierCoordinator implements CheckpointPort {
  /** Whether the run has a store (else every method is a no-op). */
  readonly checkpointing: boolean;
  /** A source asks for a checkpoint after this many items (0: never). */
  readonly everyItems: number;
  readonly #context: RunContext;
  #store: StateStore | undefined;
  #ownStore = false;
  #component: CheckpointComponent | undefined;
  #stateName = "pipeline";
  /** The number of the newest checkpoint requested (or loaded). */
  #last = 0;
  /** The newest checkpoint requested is not committed yet (requests wait for it). */
  #inFlight = false;
  /** A request came while one was in flight: it is made once that one commits. */
  #requestedMeanwhile = false;
  readonly #openCheckpoints = new Map<number, OpenCheckpoint>();
  /** What each node that ended recorded (used by every later checkpoint). */
  readonly #endSnapshots = new Map<string, NodeSnapshot>();
  #commits: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #finalCommitted = false;

  constructor(context: RunContext, options: PipelineRunOptions) {
    this.#context = context;
    this.checkpointing = options.store !== undefined;
    this.everyItems = options.checkpointEvery?.items ?? 0;
  }

  /** The commits queued so far (each is awaited in turn by the run). */
  get commits(): Promise<void> {
    return this.#commits;
  }

  /** Request a checkpoint every `ms` (with a store). */
  startTimer(ms: number | undefined): void {
    if (this.checkpointing && ms !== undefined) {
      this.#timer = setInterval(() => this.request(false), ms);
    }
  }

  /** Stop requesting checkpoints by time (the run is ending). */
  stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Wait for the commits queued, then release the store. */
  async close(): Promise<void> {
    await this.#commits.catch(() => {});
    if (this.#component && this.#store) this.#store.unregister(this.#stateName);
    if (this.#ownStore) await this.#store?.close();
  }

  /** Open the store and load its latest checkpoint into the run (nodes, sources, sinks). */
  async open(options: PipelineRunOptions): Promise<void> {
    const store = options.store;
    if (store === undefined) return;
    if (options.stateName !== undefined) this.#stateName = options.stateName;
    if (typeof store === "string") {
      try {
        this.#store = new StateStore(store, { keeper: new LatestStatesKeeper(options.keep ?? 3) });
      } catch (error) {
        throw storeError(error, store);
      }
      this.#ownStore = true;
    } else if (store instanceof StateStore) {
      this.#store = store;
    } else {
      throw new InvalidArgumentError(
        "run the pipeline",
        "store must be a StateStore or a directory",
        { received: store },
      );
    }
    this.#component = this.#store.register(this.#stateName, new CheckpointComponent());
    try {
      await this.#store.load("latest");
    } catch (error) {
      throw storeError(error, this.#store.dir);
    }
    const data = this.#component.loaded;
    if (data === undefined) return;
    for (const name of Object.keys(data.nodes)) {
      if (!this.#context.nodes.has(name)) {
        throw new CheckpointError(
          "resume the pipeline",
          "the checkpoint names a node this pipeline lacks",
          { received: name },
        );
      }
    }
    this.#last = data.checkpoint;
    for (const [name, rt] of this.#context.nodes) {
      rt.restored = data.nodes[name];
      rt.outputs = rt.restored?.outputs ?? 0;
      rt.read = rt.restored?.read ?? 0;
      rt.dead = rt.restored?.dead ?? 0;
      this.#context.deadBefore += rt.dead;
    }
    for (const [name, src] of this.#context.sources) {
      src.position = src.barrierAt = data.positions[name] ?? 0;
    }
    for (const [name, s] of this.#context.sinks.byName) s.seq = data.sinks[name] ?? 0;
    this.#context.resumedFrom = {
      checkpoint: data.checkpoint,
      positions: { ...data.positions },
      done: data.done,
    };
  }

  /**
   * Ask the sources to inject the barrier of a new checkpoint (`force`: even if nothing was
   * read since the last one, or one is in flight: the last checkpoint of a stop).
   */
  request(force: boolean): void {
    if (
      !this.checkpointing || this.#context.failed || this.#context.stopping ||
      this.#finalCommitted ||
      this.#context.resumedFrom?.done
    ) return;
    if ([...this.#context.sources.values()].every((src) => src.ended)) return;
    // Nothing read since the last barrier (a paused or idle run): the checkpoint would be the
    // same as the last one (or the one resumed from), so none is taken.
    if (
      !force && [...this.#context.sources.values()].every((src) => src.position === src.barrierAt)
    ) {
      return;
    }
    if (this.#inFlight && !force) {
      this.#requestedMeanwhile = true;
      return;
    }
    this.#requestedMeanwhile = false;
    this.#inFlight = true;
    const k = ++this.#last;
    const p: OpenCheckpoint = { checkpoint: k, positions: {}, nodes: {}, sinks: {}, buffers: [] };
    this.#openCheckpoints.set(k, p);
    for (const src of this.#context.sources.values()) {
      if (src.ended) {
        p.positions[src.name] = src.position;
        src.barrierAt = src.position;
      } else {
        src.barriers.push(k);
        src.wake();
      }
    }
    for (const s of this.#context.sinks.byName.values()) {
      if (s.ended && !s.unread) p.sinks[s.name] = s.seq;
    }
    this.#maybeCommit();
  }

  /** Record node `rt` at the barrier of checkpoint `k` (its state copied). */
  capture(rt: NodeRuntime, k: number, extra: Omit<NodeSnapshot, "outputs">): void {
    const p = this.#openCheckpoints.get(k);
    if (p === undefined) return;
    const snap = countsOf(rt, extra);
    if (rt.def.kind === "state") {
      snap.hasState = true;
      const used: NumericArray[] = [];
      snap.state = rt.copier.copy(rt.state, used);
      if (used.length > 0) p.buffers.push({ copier: rt.copier, used });
    }
    p.nodes[rt.def.name] = snap;
  }

  /** Record node `rt` at its end (every later checkpoint uses this). */
  endSnapshot(rt: NodeRuntime, extra: Omit<NodeSnapshot, "outputs">): void {
    if (!this.checkpointing) return;
    const snap = countsOf(rt, extra);
    if (rt.def.kind === "state") {
      // The node has finished: its state no longer changes, so no copy is needed.
      snap.hasState = true;
      snap.state = rt.state;
    }
    this.#endSnapshots.set(rt.def.name, snap);
  }

  /** Source `src` injects the barrier of checkpoint `k` now (or ended before it could). */
  sourcePassed(src: SourceRuntime, k: number): void {
    const p = this.#openCheckpoints.get(k);
    if (p) p.positions[src.name] = src.position;
  }

  /** The barrier of checkpoint `k` reached `sink`, after `seq` outputs. */
  ack(sink: string, k: number, seq: number): void {
    const p = this.#openCheckpoints.get(k);
    if (p === undefined) return;
    p.sinks[sink] = seq;
    this.#maybeCommit();
  }

  /** Sink `s` ended (its fields already say how): no open checkpoint waits for it any more. */
  sinkEnded(s: SinkView): void {
    // An unread sink leaves its open checkpoints incomplete: they never commit.
    if (!s.unread) { for (const p of this.#openCheckpoints.values()) p.sinks[s.name] ??= s.seq; }
    this.#maybeCommit();
  }

  #maybeCommit(): void {
    if (!this.checkpointing || this.#context.failed) return;
    const sinks = [...this.#context.sinks.byName.keys()];
    for (
      const p of [...this.#openCheckpoints.values()].sort((a, b) => a.checkpoint - b.checkpoint)
    ) {
      if (!sinks.every((s) => p.sinks[s] !== undefined)) break;
      this.#openCheckpoints.delete(p.checkpoint);
      for (const name of this.#context.nodes.keys()) {
        if (p.nodes[name] === undefined) {
          const end = this.#endSnapshots.get(name);
          if (end) p.nodes[name] = end;
        }
      }
      for (const src of this.#context.sources.values()) p.positions[src.name] ??= src.position;
      this.#commit(
        {
          checkpoint: p.checkpoint,
          positions: p.positions,
          sinks: p.sinks,
          nodes: p.nodes,
          done: false,
        },
        p.checkpoint === this.#last,
        p.buffers,
      );
    }
    const all = [...this.#context.sinks.byName.values()];
    if (
      !this.#finalCommitted && this.#openCheckpoints.size === 0 &&
      all.every((s) => s.ended && s.flushed) &&
      [...this.#context.sources.values()].every((s) => s.ended)
    ) {
      this.#finalCommitted = true;
      // A job that was complete already keeps its final snapshot (no new one per re-run).
      if (this.#context.resumedFrom?.done) return;
      const nodes: Record<string, NodeSnapshot> = {};
      for (const [name, snap] of this.#endSnapshots) nodes[name] = snap;
      const positions: Record<string, number> = {};
      for (const src of this.#context.sources.values()) positions[src.name] = src.position;
      const seqs: Record<string, number> = {};
      for (const s of all) seqs[s.name] = s.seq;
      this.#commit({
        checkpoint: ++this.#last,
        positions,
        sinks: seqs,
        nodes,
        done: true,
      }, true);
    }
  }

  #commit(data: CheckpointData, last: boolean, buffers: OpenCheckpoint["buffers"] = []): void {
    this.#commits = this.#commits.then(async () => {
      if (this.#context.failed) return;
      this.#component!.current = data;
      try {
        checkCheckpoint(data);
        // Prompt turns: the save's file operations complete while the items keep flowing.
        const path = await promptTurns(() =>
          this.#store!.save({
            meta: {
              pipeline: { checkpoint: data.checkpoint, positions: data.positions, done: data.done },
            },
          })
        );
        this.#context.log({
          type: "checkpoint",
          checkpoint: data.checkpoint,
          path,
          positions: data.positions,
          done: data.done,
        });
      } catch (error) {
        this.#context.fail(
          error instanceof SpoolError ? error : new CheckpointError(
            "save the checkpoint",
            `the store could not write it (${
              error instanceof Error ? `${error.name}: ${error.message}` : String(error)
            })`,
            { received: this.#store!.dir, cause: error },
          ),
        );
      } finally {
        this.#component!.current = undefined;
        for (const b of buffers) b.copier.release(b.used);
        if (last) {
          this.#inFlight = false;
          if (this.#requestedMeanwhile) this.request(false);
        }
      }
    });
  }
}

/** A node's counts at a barrier or at its end, with what its kind records besides (`extra`). */
function countsOf(rt: NodeRuntime, extra: Omit<NodeSnapshot, "outputs">): NodeSnapshot {
  return { outputs: rt.outputs, read: rt.read, dead: rt.dead + rt.zipDead, ...extra };
}
