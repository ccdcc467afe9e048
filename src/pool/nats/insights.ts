/**
 * Per remote worker figures of a NATS pool, in the spirit of `WorkerPool.insights()`: the
 * coordinator does not know its workers in advance, so a worker appears once a result of it
 * arrives (its index and a random per-process id travel in the result's headers).
 *
 * @module
 */

/** What `NatsPool.insights()` reports for one remote worker process. */
export interface RemoteWorkerInsights {
  /** `<index>.<process id>`: tells apart two processes started with one index (or a restart). */
  id: string;
  /** The index the worker was started with. */
  index: number;
  /** Inputs processed (including failed ones) whose result this pool kept. */
  tasks: number;
  /** Messages (chunks) whose result this pool kept. */
  chunks: number;
  /** Time spent inside `process` for those, ms (as the worker measured it). */
  busyMs: number;
  /** Results of this worker dropped because the chunk already had one (a redelivered task). */
  duplicates: number;
  /** When its first result arrived (`Date.now()` ms). */
  firstSeen: number;
  /** When its last result arrived (`Date.now()` ms): a worker silent for long may be gone. */
  lastSeen: number;
}

/** Collects {@linkcode RemoteWorkerInsights} from the results as they arrive. */
export class WorkerBook {
  readonly #workers = new Map<string, RemoteWorkerInsights>();

  #of(index: number, processId: string): RemoteWorkerInsights {
    const id = `${index}.${processId}`;
    let w = this.#workers.get(id);
    if (w === undefined) {
      const now = Date.now();
      w = {
        id,
        index,
        tasks: 0,
        chunks: 0,
        busyMs: 0,
        duplicates: 0,
        firstSeen: now,
        lastSeen: now,
      };
      this.#workers.set(id, w);
    }
    w.lastSeen = Date.now();
    return w;
  }

  /** A kept result: `inputs` inputs processed in `busyMs`. */
  done(index: number, processId: string, inputs: number, busyMs: number): void {
    const w = this.#of(index, processId);
    w.tasks += inputs;
    w.chunks++;
    w.busyMs += Math.max(0, busyMs);
  }

  /** A dropped duplicate result. */
  duplicate(index: number, processId: string): void {
    this.#of(index, processId).duplicates++;
  }

  /** A copy of every worker's figures, by index then id. */
  list(): RemoteWorkerInsights[] {
    return [...this.#workers.values()]
      .map((w) => ({ ...w }))
      .sort((a, b) => a.index - b.index || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
