/**
 * The task protocol between a {@linkcode NatsPool} coordinator and its remote workers
 * (`remote_worker.ts`), over NATS JetStream.
 *
 * | What | Name / encoding |
 * | --- | --- |
 * | task stream (work queue) | `spool_<pool>_tasks`, subjects `spool.<pool>.tasks.>`, `retention: workqueue`, file storage |
 * | task subject | `spool.<pool>.tasks.<map>`: a map that ends early purges its tasks by this subject |
 * | task consumer (shared) | durable pull consumer `spool_<pool>_workers`, explicit ack, `ack_wait` and `max_deliver` per pool |
 * | task body | `node:v8` `serialize([flags, items])` (flags: `SPREAD` of `../protocol.ts`) |
 * | map id | unkeyed: a random UUID; keyed (`key` option): `k-<key>` (or `h-<hash>`, {@linkcode keyId}) `-<run id>` (12 hex digits, {@linkcode markerSubject}) |
 * | task headers | `Spool-Map` (map id), `Spool-Chunk` (the chunk's input range `<start>.<count>`, {@linkcode chunkRange}), `Spool-Timeout` (per-input limit, ms, when set) |
 * | task `msgID` | `<map>.<start>.<count>`: JetStream drops a re-published chunk inside the dedup window (2 min), also after the task was acked, purged or deleted |
 * | result stream (work queue) | `spool_<pool>_results`, subjects `spool.<pool>.results.>`, `retention: workqueue`, file storage, `max_age` 1 h |
 * | results subject | `spool.<pool>.results.<map>`: the worker publishes with `js.publish` and acks the task after the PubAck |
 * | result consumer (per map) | durable pull consumer `spool_<pool>_map_<map>` filtered on its map's subject, explicit ack, created by the coordinator when the map starts, deleted when it ends (`inactive_threshold` 1 h for a coordinator that died); unkeyed: each result acked as read; keyed: never acked (`ack_wait` 1 h), deleted and created again by a coordinator that re-attaches, so it reads the map's results from the start |
 * | result `msgID` | `r.<map>.<start>.<count>`: a task that ran twice inside the dedup window stores one result |
 * | keyed run marker | subject `spool.<pool>.results.<key id>.run` in the result stream: its last message is the key's run id; written by the first map with the key, removed first when that map ends |
 * | result body | `serialize([busyMs, values, errorPositions \| 0])`; a failed value is an `EncodedError` |
 * | result headers | `Spool-Map`, `Spool-Chunk`, `Spool-Attempt` (JetStream delivery count), `Spool-Worker` (index), `Spool-Worker-Id` (random per process) |
 * | large bodies | over `max_payload` less 4 KiB: in the object store bucket `spool_<pool>_payloads` (`max_age` 24 h), named by the message's `msgID` (a result's with `.<attempt>`); the message has the header `Spool-Payload` (the object's name) and an empty body (`large_payload.ts`) |
 * | given-up tasks | the server's advisory `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<task stream>.<task consumer>` (its `stream_seq` is the task's PubAck `seq`), kept in the stream `spool_<pool>_advisories` (`max_age` 1 h) and read by each coordinator with an ordered consumer (new messages only), so one sent while it reconnects is not lost |
 *
 * Why work-queue retention for results: a result is read by exactly one consumer (its map's),
 * and an acknowledged result is deleted at once, so the stream holds only the results not read
 * yet (a coordinator reconnecting reads them when it is back); `max_age` bounds what a map that
 * nobody reads any more (its coordinator died) leaves behind. A keyed map's results are not
 * acknowledged: they stay until the map ends and purges its subject (or `max_age` passes).
 *
 * Delivery is at least once: a worker that dies (SIGKILL) before its ack has its task redelivered
 * once `ack_wait` passes (a long task keeps it with `working()` progress acks), and a task can
 * then finish twice. Results are on JetStream, so one published while the coordinator is
 * disconnected (or while the server restarts: the worker retries the publish with the same
 * `msgID`) waits in the stream. The coordinator keeps one result per chunk: it takes the first
 * result of a chunk it still waits for and drops the others ({@linkcode ResultGate}).
 *
 * An unkeyed map id is a random UUID (unique across coordinators sharing a pool); a keyed one is
 * the same in every run of the key until the map ends. A chunk is named by its input range, never
 * by a counter, so a run that chunks differently (`chunkSize: "auto"`) never takes a stale result
 * for the wrong inputs; a given-up chunk split into single inputs gives new ranges (`<i>.1`). A
 * task never names a module: a worker runs the one module it was started with.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { deserialize, serialize } from "node:v8";
import { InvalidArgumentError } from "../../errors.ts";

/** Header: the map id. */
export const MAP_HEADER = "Spool-Map";
/** Header: the chunk id (decimal). */
export const CHUNK_HEADER = "Spool-Chunk";
/** Header: the JetStream delivery count of the task that produced a result (1 = first). */
export const ATTEMPT_HEADER = "Spool-Attempt";
/** Header: the index the remote worker was started with. */
export const WORKER_HEADER = "Spool-Worker";
/** Header: a random id of the remote worker process (tells apart workers with one index). */
export const WORKER_ID_HEADER = "Spool-Worker-Id";
/** Header: the map's per-input time limit, ms (absent: none). */
export const TIMEOUT_HEADER = "Spool-Timeout";
/** Header: the object (in the pool's payload bucket) holding a body too large to send inline. */
export const PAYLOAD_HEADER = "Spool-Payload";
/** Header: an error result of a task whose payload is missing (the payload's name; empty body). */
export const PAYLOAD_ERROR_HEADER = "Spool-Payload-Error";
/** How long a result nobody reads stays in the result stream, ms. */
export const RESULT_MAX_AGE_MS = 3_600_000;

const POOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Check a pool name (it becomes part of stream and subject names). */
export function checkPoolName(action: string, pool: unknown): string {
  if (typeof pool !== "string" || !POOL_NAME.test(pool)) {
    throw new InvalidArgumentError(
      action,
      "the pool name must be 1 to 64 letters, digits, '_' or '-'",
      { received: pool },
    );
  }
  return pool;
}

/** The names one pool uses on the server. */
export interface PoolNames {
  /** Work-queue stream of the tasks. */
  readonly stream: string;
  /** Subjects of the task stream (`spool.<pool>.tasks.>`; one subject per map under it). */
  readonly tasks: string;
  /** Durable pull consumer shared by every worker. */
  readonly consumer: string;
  /** Work-queue stream of the results. */
  readonly resultStream: string;
  /** Subjects of the result stream (`spool.<pool>.results.>`; one subject per map under it). */
  readonly results: string;
  /** Stream keeping the server's MAX_DELIVERIES advisories of the task consumer. */
  readonly advisoryStream: string;
  /** The advisory subject of the task consumer. */
  readonly advisories: string;
}

/** Stream, subject and consumer names of a pool. */
export function poolNames(pool: string): PoolNames {
  return {
    stream: `spool_${pool}_tasks`,
    tasks: `spool.${pool}.tasks.>`,
    consumer: `spool_${pool}_workers`,
    resultStream: `spool_${pool}_results`,
    results: `spool.${pool}.results.>`,
    advisoryStream: `spool_${pool}_advisories`,
    advisories:
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.spool_${pool}_tasks.spool_${pool}_workers`,
  };
}

/** The durable consumer that reads one map's results. */
export function mapConsumer(pool: string, map: string): string {
  return `spool_${pool}_map_${map}`;
}

/** The publish dedup id of a chunk's result. */
export function resultMsgId(map: string, chunk: string | number): string {
  return `r.${map}.${chunk}`;
}

/** The subject the tasks of one map are published on. */
export function tasksSubject(pool: string, map: string): string {
  return `spool.${pool}.tasks.${map}`;
}

/** The subject the results of one map are published on. */
export function resultsSubject(pool: string, map: string): string {
  return `spool.${pool}.results.${map}`;
}

/**
 * A chunk's identity on the wire: its input range, `<start>.<count>` (the same chunk of inputs
 * gets the same identity in every run of a keyed map, whatever chunk counter the run has).
 */
export function chunkRange(start: number, count: number): string {
  return `${start}.${count}`;
}

/** The publish dedup id of a chunk (`range`: {@linkcode chunkRange}). */
export function taskMsgId(map: string, range: string): string {
  return `${map}.${range}`;
}

const SAFE_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The map-id prefix of a keyed map: `k-<key>` when the key is 1 to 64 letters, digits, `_` or
 * `-` (it then shows in subject and consumer names), else `h-<32 hex digits of its SHA-256>`.
 * An unkeyed map's id is a UUID (it starts with a hex digit), so the three never collide.
 */
export function keyId(action: string, key: unknown): string {
  if (typeof key !== "string" || key === "") {
    throw new InvalidArgumentError(action, "key must be a non-empty string", { received: key });
  }
  if (SAFE_KEY.test(key)) return `k-${key}`;
  return `h-${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;
}

/**
 * The subject of a keyed map's run marker (in the result stream): its last message holds the
 * run id the map's tasks and results are named with (`<keyId>-<run id>`), so a restarted
 * coordinator finds the same names; removed when the map ends, so the next map with the key
 * starts a new run (JetStream keeps dedup ids across purges: new names are the only clean start).
 */
export function markerSubject(pool: string, keyId: string): string {
  return `spool.${pool}.results.${keyId}.run`;
}

/** A decoded task body. */
export type TaskBody = [flags: number, items: unknown[]];
/** A decoded result body. */
export type ResultBody = [busyMs: number, values: unknown[], failures: number[] | 0];

/** Encode a task body. */
export function encodeTask(flags: number, items: unknown[]): Uint8Array {
  return serialize([flags, items]);
}

/** Encode a result body. */
export function encodeResult(
  busyMs: number,
  values: unknown[],
  failures: number[] | 0,
): Uint8Array {
  return serialize([busyMs, values, failures]);
}

/** Decode a task body (a malformed body is an InvalidArgumentError). */
export function decodeTask(data: Uint8Array): TaskBody {
  const body = deserialize(data) as unknown;
  if (!Array.isArray(body) || typeof body[0] !== "number" || !Array.isArray(body[1])) {
    throw new InvalidArgumentError("decode a pool task", "the body is not [flags, items]", {
      received: body,
    });
  }
  return body as TaskBody;
}

/** Decode a result body (a malformed body is an InvalidArgumentError). */
export function decodeResult(data: Uint8Array): ResultBody {
  const body = deserialize(data) as unknown;
  if (
    !Array.isArray(body) || typeof body[0] !== "number" || !Array.isArray(body[1]) ||
    (body[2] !== 0 && !Array.isArray(body[2]))
  ) {
    throw new InvalidArgumentError(
      "decode a pool result",
      "the body is not [busyMs, values, failures]",
      { received: body },
    );
  }
  return body as ResultBody;
}

/**
 * One result per chunk, by input range ({@linkcode chunkRange}): {@linkcode ResultGate.open}
 * when a chunk is published, {@linkcode ResultGate.take} when a result arrives (the chunk the
 * first time, `undefined` for a duplicate from a redelivered task, or for a chunk of a map that
 * ended). With `keepEarly` (keyed maps, which read an earlier run's results from the start), a
 * result for a range not opened yet is kept (`R`): `open` hands it back, and the chunk needs no
 * task. Kept results of ranges never opened are `stale` (a run with another chunking).
 */
export class ResultGate<C, R = unknown> {
  readonly #waiting = new Map<string, C>();
  readonly #early: Map<string, R> | undefined;
  /** Results dropped as duplicates (or late). */
  dropped = 0;

  constructor(keepEarly = false) {
    this.#early = keepEarly ? new Map() : undefined;
  }

  /** Expect one result for `range`; returns the result already kept for it, if any. */
  open(range: string, chunk: C): R | undefined {
    this.#waiting.set(range, chunk);
    const early = this.#early?.get(range);
    if (early !== undefined) this.#early!.delete(range);
    return early;
  }

  /** The chunk of a result if it is the first; `undefined` (kept or counted) otherwise. */
  take(range: string, result?: R): C | undefined {
    const chunk = this.#waiting.get(range);
    if (chunk === undefined) {
      const early = this.#early;
      if (early !== undefined && result !== undefined && !early.has(range)) {
        early.set(range, result);
      } else this.dropped++;
      return undefined;
    }
    this.#waiting.delete(range);
    return chunk;
  }

  /** Whether a result for `range` is still expected. */
  has(range: string): boolean {
    return this.#waiting.has(range);
  }

  /** Stop waiting for `range` (its publish failed: the chunk failed on this side). */
  forget(range: string): void {
    this.#waiting.delete(range);
  }

  /** Chunks still waiting for a result. */
  get size(): number {
    return this.#waiting.size;
  }

  /** Results kept for a range that was not opened (yet): ignored if the map ends so. */
  get stale(): number {
    return this.#early?.size ?? 0;
  }
}
