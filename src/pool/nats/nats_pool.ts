/**
 * The coordinator of a NATS pool: `pool.map` over remote workers (`remote_worker.ts`) that pull
 * tasks from a JetStream work-queue stream.
 *
 * Decision: the NATS backend is a second {@linkcode PoolPort} implementation, not a third
 * `WorkerTransport`. A transport (`transport.ts`) is a push endpoint per worker: the dispatcher
 * picks a slot, the slot keeps the chunks it holds and attributes a crash to them
 * (`worker_slot.ts`, `crash_culprit.ts`). JetStream inverts all three: workers are unknown to the
 * coordinator (any number, on any machine), they pull the next task themselves, and a dead
 * worker's task comes back by redelivery after `ack_wait` (no crash attribution, no respawn).
 * What a map needs from a pool is only the `PoolPort` of `map_run.ts`, so {@linkcode MapRun},
 * `MapSource` (pulling, chunks, `maxInFlight`) and the ordered/unordered result stores are
 * reused unchanged: this file publishes the chunks MapRun hands out and feeds the results back
 * through `MapRun.complete`, keeping one result per chunk (redelivery can finish a chunk twice).
 *
 * Results come back on the pool's result stream through one consumer per map
 * (`results_reader.ts`), so a result published while the coordinator reconnects (or the server
 * restarts on its store) is read when it is back. Tasks the server gives up after
 * `maxDeliveries` are reported by its advisories (`advisories.ts`): a chunk is split into single
 * inputs, a single input fails with a `DeliveryLimitError`. Several maps share the in-flight
 * budget (`size * depth` chunks) round-robin. `insights()` reports each remote worker seen
 * (`insights.ts`).
 *
 * Keyed maps (`key`, `keyed_run.ts`): the map id is `<key id>-<run id>`, the run id kept on the
 * server while the map runs, so a restarted coordinator publishes the same task dedup ids
 * (`<map>.<start>.<count>`) and reads the results its key already has from the start, keeping
 * those that come before their chunk is due (the chunk then needs no task). A chunk the dead run
 * had given up is found by its advisory (`advisories.ts`) and split again. An ended keyed map's
 * run is kept until the pool starts its next keyed map or closes (the caller's checkpoint falls
 * between the two). Guarantee: a restart within the dedup window runs no chunk twice; later,
 * queued tasks may run twice (one result is kept). `transfer` is ignored (bodies are copied).
 *
 * @module
 */

import { ClosedError, InvalidArgumentError } from "../../errors.ts";
import { optionsOf } from "../../_internal/options.ts";
import { type AnyIterable, lengthOf, withLength } from "../../stream/sized.ts";
import type { AnyWorkerDefinition } from "../define.ts";
import { mapSettingsOf, type PoolMapOptions } from "../map_options.ts";
import { type Chunk, MapRun, type PoolPort } from "../map_run.ts";
import { SPREAD } from "../protocol.ts";
import type { WorkerPool } from "../worker_pool.ts";
import {
  connectNats,
  headers,
  type JetStreamManager,
  type JsMsg,
  type NatsHandle,
} from "./client.ts";
import { checkPoolOptions, type NatsPoolOptions } from "./options.ts";
import { DeliveryLimitError, ResultReadError, TaskPublishError } from "./errors.ts";
import { KeyedRuns } from "./keyed_run.ts";
import { endUnkeyed, keyInUse, type Link, newLink, rangeOf, type Sent } from "./map_link.ts";
import { type GivenUp, GivenUpTasks } from "./advisories.ts";
import {
  CHUNK_HEADER,
  decodeResult,
  encodeTask,
  keyId,
  MAP_HEADER,
  type PoolNames,
  poolNames,
  taskMsgId,
  tasksSubject,
  TIMEOUT_HEADER,
  WORKER_HEADER,
  WORKER_ID_HEADER,
} from "./protocol.ts";
import { type RemoteWorkerInsights, WorkerBook } from "./insights.ts";
import { publishBody } from "./large_payload.ts";
import { ResultsReader } from "./results_reader.ts";
import { rejectUnsendable } from "./unsendable.ts";
import { ensurePool } from "./setup.ts";

const ACTION = "start a NATS worker pool";
const MAP_ACTION = "map over the NATS worker pool";

export type { NatsPoolOptions, RemoteWorkerInsights };

/**
 * A worker pool whose workers are remote processes pulling tasks from NATS JetStream. `map` has
 * the contract of `WorkerPool.map` (ordered or not, `maxInFlight`, error policies, `chunkSize`,
 * `spread`, `passThrough`, `signal`, `timeoutMs`); a task whose worker died is redelivered (at
 * most `maxDeliveries` times), each input still gets exactly one result, and results wait on
 * the server while the coordinator reconnects. Several maps share the pool fairly.
 *
 * @example
 * ```ts ignore
 * // `typeof worker` (the definition the remote workers run) types inputs and results.
 * await using pool = await NatsPool.start<typeof worker>({
 *   servers: "nats://127.0.0.1:4222",
 *   token: Deno.env.get("SPOOL_NATS_TOKEN"), // or user/pass, nkeySeed, credsFile, tls
 *   pool: "images",
 *   maxDeliveries: 3, // a task whose workers all died 3 times fails (DeliveryLimitError)
 * });
 * for await (const r of pool.map([1, 2, 3], { errors: "collect", timeoutMs: 60_000 })) {
 *   console.log(r);
 * }
 * console.log(pool.insights()); // one entry per remote worker process that answered
 * ```
 */
export class NatsPool<D extends AnyWorkerDefinition = AnyWorkerDefinition>
  implements AsyncDisposable {
  /** Expected remote parallelism. */
  readonly size: number;
  /** Backend kind. */
  readonly kind = "nats" as const;
  /** Pool name. */
  readonly pool: string;
  readonly #depth: number;
  readonly #nats: NatsHandle;
  readonly #jsm: JetStreamManager;
  /** Purges of the tasks of maps that ended (close waits for them). */
  readonly #purges = new Set<Promise<unknown>>();
  readonly #names: PoolNames;
  readonly #runs = new Map<MapRun, Link>();
  readonly #keyed: KeyedRuns;
  #stale = 0;
  readonly #port: PoolPort;
  #chunkId = 0;
  readonly #book = new WorkerBook();
  /** The map the next publishing round starts with (round-robin). */
  #turn = 0;
  #inFlight = 0;
  #dropped = 0;
  #closed = false;
  #scheduled = false;
  #closing: Promise<void> | undefined;
  #givenUp: GivenUpTasks<Sent> | undefined;

  private constructor(
    nats: NatsHandle,
    pool: string,
    size: number,
    depth: number,
  ) {
    this.#nats = nats;
    this.#jsm = nats.jsm;
    this.pool = pool;
    this.#names = poolNames(pool);
    this.#keyed = new KeyedRuns(nats, this.#names, pool);
    this.size = size;
    this.#depth = depth;
    this.#port = {
      size,
      depth,
      schedule: () => this.#schedule(),
      hungry: () => this.#inFlight < this.size * this.#depth && !this.#anyPending(),
      isClosed: () => this.#closed,
      whenReady: () => Promise.resolve(),
      attach: (run) => this.#attach(run),
      detach: (run) => this.#detach(run),
      nextId: () => ++this.#chunkId,
    };
    // The client gave up reconnecting (or the connection was closed under us): fail the maps.
    nats.nc.closed().then((cause) => {
      if (this.#closed) return;
      this.#closed = true;
      const error = new ClosedError(MAP_ACTION, "the connection to NATS closed", { cause });
      for (const run of [...this.#runs.keys()]) run.fail(error);
    });
  }

  /**
   * Connect (through `connectNats`: credentials, TLS), create the pool's streams and consumer if
   * needed, and return the pool. Bad options are an `InvalidArgumentError`, a refused or failed
   * connection a `NatsConnectError`.
   */
  static async start<D extends AnyWorkerDefinition = AnyWorkerDefinition>(
    options: NatsPoolOptions,
  ): Promise<NatsPool<D>> {
    const o = checkPoolOptions(ACTION, options);
    const nats = await connectNats(o.connect);
    try {
      await ensurePool(nats.jsm, poolNames(o.pool), o);
      const pool = new NatsPool<D>(nats, o.pool, o.size, o.depth);
      pool.#givenUp = await GivenUpTasks.open<Sent>(nats, pool.#names, (t) => pool.#onGivenUp(t));
      return pool;
    } catch (e) {
      await nats.close();
      throw e;
    }
  }

  /** Results dropped because their chunk already had one (redelivered tasks finishing twice). */
  get duplicates(): number {
    let n = this.#dropped;
    for (const link of this.#runs.values()) n += link.gate.dropped;
    return n;
  }

  /** Results of an earlier run of a key, for an input range its new run did not ask for. */
  get stale(): number {
    let n = this.#stale;
    for (const link of this.#runs.values()) n += link.gate.stale;
    return n;
  }

  /**
   * Map `source` over the remote workers: the options, overloads and result types of
   * `WorkerPool.map` (`D` is the workers' definition type). `timeoutMs` is kept by the remote
   * worker: it races each input against it, and an asynchronous `process` that overruns fails
   * that input with a `TimeoutError` while the worker moves on (the overrun promise is left to
   * settle, its value ignored). A synchronous `process` that blocks its worker cannot be raced:
   * the worker's progress acks stop, the task is redelivered after `ack_wait` and, once every
   * delivery stalled, fails with a `DeliveryLimitError` (see `maxDeliveries`).
   *
   * `key` (a non-empty string derived from the caller's checkpoint position, `batch-${n}`)
   * makes the map's names on the server deterministic: a coordinator restarted after a crash
   * that runs the same map with the same key and inputs republishes each chunk with the same
   * dedup id (its input range), so a task queued, running or done within the server's duplicate
   * window (2 min) is not stored again, and it reads the key's results from the start, each
   * range once (one for a range it does not ask for is ignored: `stale`). A keyed map that ends
   * removes its tasks, and its results once the pool starts its next keyed map or closes (a
   * restart before that finds them all); the next map with the key on this pool starts anew. Two
   * live maps with one key on a pool are an `InvalidArgumentError`; two coordinators with one key
   * at once are not detected. Details: the module doc.
   */
  readonly map: WorkerPool<D>["map"] =
    ((source: AnyIterable<unknown>, options = {}) => this.#map(source, options)) as WorkerPool<
      D
    >["map"];

  #map(
    source: AnyIterable<unknown>,
    options: PoolMapOptions,
  ): AsyncIterableIterator<unknown> & { readonly length?: number } {
    const settings = mapSettingsOf(MAP_ACTION, options, this.size, this.#depth);
    if (source === null || source === undefined) {
      const reason = "the source must be an iterable or async iterable";
      throw new InvalidArgumentError(MAP_ACTION, reason, { received: source });
    }
    if (this.#closed) throw new ClosedError(MAP_ACTION, "the pool is closed");
    if (settings.key !== undefined && this.#keyed.live(keyId(MAP_ACTION, settings.key))) {
      throw keyInUse(MAP_ACTION, settings.key);
    }
    return withLength(new MapRun(this.#port, source, settings), lengthOf(source));
  }

  /**
   * Figures per remote worker process that sent this pool a result (index, per-process id,
   * tasks, chunks, busy time, duplicates, first and last seen), by index. A worker that has not
   * answered yet is not listed: the coordinator does not know its workers in advance.
   *
   * @param options none yet (an object with unknown keys is refused)
   */
  insights(options?: Record<string, never>): RemoteWorkerInsights[] {
    optionsOf("get NATS pool insights", options, []);
    return this.#book.list();
  }

  /** Fail the active maps, then drain and close the connection. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      for (const run of [...this.#runs.keys()]) {
        run.fail(new ClosedError(MAP_ACTION, "the pool was closed"));
      }
      await this.#givenUp?.close();
      await Promise.allSettled([...this.#purges]);
      await this.#keyed.close();
      await this.#nats.close();
    })();
    return this.#closing;
  }

  /** Same as {@linkcode NatsPool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #anyPending(): boolean {
    for (const run of this.#runs.keys()) if (run.pendingCount > 0) return true;
    return false;
  }

  #attach(run: MapRun): void {
    const kid = run.key === undefined ? undefined : keyId(MAP_ACTION, run.key);
    if (kid !== undefined && this.#keyed.live(kid)) {
      run.fail(keyInUse(MAP_ACTION, run.key));
      return;
    }
    const link = newLink(kid);
    this.#runs.set(run, link);
    if (kid === undefined) {
      this.#open(run, link, crypto.randomUUID());
      return;
    }
    link.opening = this.#keyed.open(kid).then(
      (id) => {
        link.id = id;
        if (this.#runs.get(run) === link) this.#open(run, link, id);
      },
      (cause) =>
        run.fail(
          new ResultReadError(MAP_ACTION, "the run of its key could not be looked up", {
            received: run.key,
            cause,
          }),
        ),
    );
  }

  /** Start reading map `id`'s results; its chunks go out from now on. */
  #open(run: MapRun, link: Link, id: string): void {
    link.id = id;
    // Results wait in the result stream until this reader's consumer exists: no race with the
    // first task.
    link.reader = new ResultsReader(this.#nats, this.#names, this.pool, id, {
      onResult: (msg) => this.#onResult(run, link, msg),
      onError: (e) => run.fail(e),
    }, link.keyId !== undefined);
    this.#schedule();
  }

  #detach(run: MapRun): void {
    const link = this.#runs.get(run);
    if (link === undefined) return;
    this.#runs.delete(run);
    for (const seq of link.seqs.values()) this.#givenUp?.untrack(seq);
    this.#inFlight -= link.gate.size;
    this.#dropped += link.gate.dropped;
    this.#stale += link.gate.stale;
    const kid = link.keyId;
    if (kid !== undefined) this.#track(this.#keyed.end(kid, link));
    else this.#track(endUnkeyed(this.#nats, this.#names, this.pool, link));
    this.#schedule();
  }

  /** Keep `p` until it settles (close waits for it). */
  #track(p: Promise<unknown>): void {
    const tracked = p.catch(() => {}).finally(() => this.#purges.delete(tracked));
    this.#purges.add(tracked);
  }

  #onResult(run: MapRun, link: Link, msg: JsMsg): void {
    const dropped = link.gate.dropped;
    const chunk = link.gate.take(msg.headers?.get(CHUNK_HEADER) ?? "", msg);
    const worker = Number(msg.headers?.get(WORKER_HEADER) || -1);
    const processId = msg.headers?.get(WORKER_ID_HEADER) ?? "";
    if (chunk === undefined) {
      // a duplicate (redelivered task) or a stray; or kept for later (a keyed map's earlier run)
      if (link.gate.dropped > dropped) this.#book.duplicate(worker, processId);
      return;
    }
    this.#inFlight--;
    this.#forgetSeq(link, chunk);
    let body;
    try {
      body = decodeResult(msg.data);
      this.#book.done(worker, processId, body[1].length, body[0]);
    } catch (e) {
      body = e as Error;
    }
    try {
      if (body instanceof Error) run.failChunk(chunk, worker, body);
      else run.complete(chunk, body[1], body[2], body[0], worker);
    } catch (e) {
      // A broken invariant (InternalError) ends this map, not the client's callback loop.
      run.fail(e);
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#round();
    });
  }

  /**
   * Publish the chunks the maps have ready while fewer than `size * depth` are in flight: one
   * chunk per map in turn (round-robin), each round starting one map further, so several maps
   * share the budget instead of the first taking it all.
   */
  #round(): void {
    if (this.#closed) return;
    const limit = this.size * this.#depth;
    const runs = [...this.#runs];
    const n = runs.length;
    if (n === 0) return;
    const first = this.#turn++ % n;
    for (let sent = true; sent && this.#inFlight < limit;) {
      sent = false;
      for (let k = 0; k < n && this.#inFlight < limit; k++) {
        const [run, link] = runs[(first + k) % n]!;
        if (run.closed || link.reader === undefined) continue;
        if (run.pendingCount === 0 && run.hasPartial) run.flushPartial();
        if (run.pendingCount === 0) continue;
        this.#publish(run, link, run.takePending());
        sent = true;
      }
    }
  }

  #publish(run: MapRun, link: Link, chunk: Chunk): void {
    const range = rangeOf(chunk);
    const early = link.gate.open(range, chunk);
    this.#inFlight++;
    chunk.sentAt = performance.now();
    if (early !== undefined) {
      this.#onResult(run, link, early); // an earlier run of the key did it: no task
      return;
    }
    let data: Uint8Array;
    try {
      data = encodeTask(run.flags & SPREAD, chunk.items);
    } catch (e) {
      link.gate.forget(range);
      this.#inFlight--;
      rejectUnsendable(run, chunk, e);
      return;
    }
    const h = headers();
    h.set(MAP_HEADER, link.id);
    h.set(CHUNK_HEADER, range);
    if (run.timeoutMs > 0) h.set(TIMEOUT_HEADER, String(run.timeoutMs));
    const subject = tasksSubject(this.pool, link.id);
    const publish = publishBody(
      this.#nats,
      subject,
      data,
      { msgID: taskMsgId(link.id, range), headers: h },
      () => this.#runs.get(run) !== link,
      { pool: this.pool, track: true },
    );
    link.publishing.add(publish);
    publish.then(
      (ack) => {
        link.publishing.delete(publish);
        if (this.#runs.get(run) !== link || !link.gate.has(range)) return;
        // A duplicate (a keyed map's earlier run published it) carries the first task's seq.
        link.seqs.set(chunk.id, ack.seq);
        this.#givenUp?.track(ack.seq, { run, link, chunk });
      },
      (e) => {
        link.publishing.delete(publish);
        if (this.#runs.get(run) !== link || !link.gate.has(range)) return;
        link.gate.forget(range);
        this.#inFlight--;
        run.failChunk(
          chunk,
          -1,
          new TaskPublishError(`publish chunk ${range}`, "the server did not store it", {
            received: subject,
            cause: e,
          }),
        );
        this.#schedule();
      },
    );
  }

  #forgetSeq(link: Link, chunk: Chunk): void {
    const seq = link.seqs.get(chunk.id);
    if (seq === undefined) return;
    link.seqs.delete(chunk.id);
    this.#givenUp?.untrack(seq);
  }

  /**
   * The server gave up a task (`maxDeliveries` reached): it leaves the stream; a chunk of several
   * inputs goes again one input per task (one poison input does not fail its neighbours), a
   * single input fails with a DeliveryLimitError.
   */
  #onGivenUp({ seq, deliveries, entry: { run, link, chunk } }: GivenUp<Sent>): void {
    this.#track(this.#jsm.streams.deleteMessage(this.#names.stream, seq, false));
    const range = rangeOf(chunk);
    if (this.#runs.get(run) !== link || !link.gate.has(range)) return;
    link.gate.forget(range);
    link.seqs.delete(chunk.id);
    this.#inFlight--;
    if (chunk.items.length > 1) {
      const pieces = chunk.items.map((item, i) => {
        const piece = run.chunkOf(chunk.start + i, [item]);
        piece.retries = chunk.retries + 1;
        return piece;
      });
      run.outstanding += pieces.length - 1; // requeue counts each piece as taken
      run.requeue(pieces);
    } else {
      run.failChunk(
        chunk,
        -1,
        new DeliveryLimitError(
          `run input #${chunk.start}`,
          `its task was delivered ${deliveries} times without an acknowledgement (every ` +
            "worker that took it died or stalled)",
          { received: deliveries },
        ),
      );
    }
    this.#schedule();
  }
}
