/**
 * Bodies larger than the server's `max_payload`: a task or result body over the connection's
 * `max_payload` (less {@linkcode HEADROOM} bytes for the headers) is stored in the pool's
 * JetStream object store bucket `spool_<pool>_payloads`, and the message carries only the header
 * `Spool-Payload: <object name>` and an empty body. The object's name is the message's dedup id,
 * `<map>.<chunk>` for a task and `r.<map>.<chunk>.<attempt>` for a result (the task's delivery
 * count), so a retried publish stores one object, not two; a result whose message the server
 * drops as a duplicate (another run of the task stored one first) has its object deleted at once,
 * since no message refers to it. Senders use {@linkcode publishBody} in place of
 * `publishRetrying`.
 *
 * | Step | Who | What |
 * | --- | --- | --- |
 * | store | the sender (coordinator: a task; worker: a result) | {@linkcode publishBody}: chunks of at most `max_payload - HEADROOM` bytes (128 KiB when smaller), then the meta entry, then the message |
 * | read | the receiver | the meta entry, then its chunks by one batch direct get (no consumer is created), checked against the object's SHA-256 digest |
 * | delete a result's | the coordinator | once the result was handed to the map (a duplicate's too), with the objects of the chunk's earlier attempts and of puts cut short |
 * | delete a duplicate's | the worker | when the server dropped its result message as a duplicate |
 * | delete a task's | the coordinator | once a result of its chunk arrived (the first one: the chunk is done), or when the map ends |
 * | expire | the server | the bucket's `max_age` ({@linkcode PAYLOAD_MAX_AGE_MS}, 24 h): what a dead coordinator leaves behind |
 *
 * A task payload is kept until the coordinator has the chunk's result, so a worker SIGKILLed while
 * holding the task leaves it for the redelivery. A task whose payload is gone (its chunk already
 * has a result, its map ended, or it waited longer than the bucket's `max_age`) is answered with an
 * error result (header `Spool-Payload-Error`, empty body) and terminated: a coordinator still
 * waiting for the chunk fails it with a {@linkcode PayloadError} instead of waiting forever, one
 * that has its result drops it as a duplicate. A failed read (the connection down) is retried
 * until {@linkcode PAYLOAD_DEADLINE_MS}; a worker then gives the task back (`nak`).
 *
 * Deletion purges the object's chunk and meta subjects (no tombstone stays per object, as the
 * client's `delete` would leave); chunk subjects start with a key of the name, so one purge also
 * takes the chunks of a put cut short (its process killed, the server restarting). Puts, reads
 * and deletions are retried across a reconnect. What a killed coordinator or worker leaves
 * (objects of its maps, a put cut short) expires with the bucket's `max_age`.
 *
 * @module
 */

import { headers, type JsMsg, type MsgHdrs, type PubAck } from "./client.ts";
import {
  ATTEMPT_HEADER,
  CHUNK_HEADER,
  MAP_HEADER,
  PAYLOAD_ERROR_HEADER,
  PAYLOAD_HEADER,
  resultMsgId,
  resultsSubject,
  taskMsgId,
  WORKER_HEADER,
  WORKER_ID_HEADER,
} from "./protocol.ts";
import { publishRetrying, type PublishTarget } from "./publish.ts";
import {
  PAYLOAD_MAX_AGE_MS,
  PayloadError,
  type Payloads,
  payloadsIfAny,
  payloadsOf,
  tooLarge,
} from "./payload_bucket.ts";

export {
  HEADROOM,
  PAYLOAD_DEADLINE_MS,
  PAYLOAD_MAX_AGE_MS,
  payloadBucket,
  PayloadError,
} from "./payload_bucket.ts";

const MISSING = "it is not in the bucket (its chunk has a result, its map ended, or it waited " +
  `longer than the bucket's max_age of ${PAYLOAD_MAX_AGE_MS / 3_600_000} h)`;

/**
 * The body to publish for `data`: `data` itself when it fits the connection's `max_payload`;
 * otherwise `data` is stored as object `msgID` of the pool's bucket, `h` gets the
 * `Spool-Payload` header and the body is empty. With `track` (the coordinator's tasks), the
 * object is deleted once its chunk has a result ({@linkcode unpackResult}) or its map ended
 * ({@linkcode endPayloads}). A failed store rejects (the caller's publish fails as it would).
 */
export async function packBody(
  target: PublishTarget,
  pool: string,
  data: Uint8Array,
  msgID: string,
  h: MsgHdrs,
  track = false,
): Promise<Uint8Array> {
  if (!tooLarge(target.nc, data)) return data;
  await storeBody(target, pool, data, msgID, msgID, h, track);
  return new Uint8Array(0);
}

/** Store `data` as object `name` (chunks keyed by `keyed`), set the header; the nuid. */
async function storeBody(
  target: PublishTarget,
  pool: string,
  data: Uint8Array,
  name: string,
  keyed: string,
  h: MsgHdrs,
  track = false,
): Promise<string> {
  const p = payloadsOf(target, pool);
  const put = p.put(name, data, keyed);
  // a task's map id is its msgID up to the chunk: endPayloads waits for the put
  if (track) p.track(name.slice(0, name.lastIndexOf(".")), put);
  const nuid = await put;
  if (track) p.stored.add(name);
  h.set(PAYLOAD_HEADER, name);
  return nuid;
}

/** How {@linkcode publishBody} stores a body too large to send inline. */
export interface LargeBody {
  /** The pool (its bucket). */
  readonly pool: string;
  /** Delete the object once its chunk has a result or its map ended (the coordinator's tasks). */
  readonly track?: boolean;
  /**
   * The delivery count of the task whose result this is: the object is then named
   * `<msgID>.<attempt>`, and deleted at once when the server drops the message as a duplicate
   * (another run of the task already stored its result; no message refers to this object).
   */
  readonly attempt?: number;
}

/**
 * `publishRetrying` (same arguments) for a body of any size: one over the connection's
 * `max_payload` goes through the bucket first ({@linkcode packBody}).
 */
export async function publishBody(
  target: PublishTarget,
  subject: string,
  data: Uint8Array,
  options: { msgID: string; headers: MsgHdrs },
  stopped: (() => boolean) | undefined,
  large: LargeBody,
): Promise<PubAck> {
  if (!tooLarge(target.nc, data)) return publishRetrying(target, subject, data, options, stopped);
  const { msgID, headers: h } = options;
  const name = large.attempt === undefined ? msgID : `${msgID}.${large.attempt}`;
  const nuid = await storeBody(target, large.pool, data, name, msgID, h, large.track);
  const ack = await publishRetrying(target, subject, new Uint8Array(0), options, stopped);
  if (ack.duplicate && large.attempt !== undefined) {
    await payloadsOf(target, large.pool).remove([name], { nuid }).catch(() => {});
  }
  return ack;
}

/** Who reads a task (a worker: its index and process id go on an error result). */
export interface TaskReader {
  readonly target: PublishTarget;
  readonly pool: string;
  readonly index: number;
  readonly workerId: string;
}

/**
 * A task's body: `m.data`, or its payload read from the bucket. A missing payload is answered
 * with an error result (see the module doc) and rejects with a {@linkcode PayloadError}; a read
 * that keeps failing gives the task back (`nak`) and rejects.
 */
export async function unpackTask(reader: TaskReader, m: JsMsg): Promise<Uint8Array> {
  const name = m.headers?.get(PAYLOAD_HEADER) ?? "";
  if (name === "") return m.data;
  const p = payloadsOf(reader.target, reader.pool);
  let found;
  try {
    found = await p.get(name, () => m.working());
  } catch (e) {
    m.nak();
    throw e;
  }
  if (found !== undefined) return found.data;
  await answerMissing(reader, m, name).catch(() => {});
  throw new PayloadError(`read task payload ${name}`, MISSING, { received: name });
}

/** Publish the error result of a task whose payload is missing. */
async function answerMissing(reader: TaskReader, m: JsMsg, name: string) {
  const map = m.headers?.get(MAP_HEADER) ?? "";
  const chunk = m.headers?.get(CHUNK_HEADER) ?? "";
  if (map === "" || chunk === "") return;
  const h = headers();
  h.set(MAP_HEADER, map);
  h.set(CHUNK_HEADER, chunk);
  h.set(WORKER_HEADER, String(reader.index));
  h.set(WORKER_ID_HEADER, reader.workerId);
  h.set(PAYLOAD_ERROR_HEADER, name);
  const subject = resultsSubject(reader.pool, map);
  await publishRetrying(reader.target, subject, new Uint8Array(0), {
    msgID: resultMsgId(map, chunk),
    headers: h,
  });
}

/** `m` with another `data` (or a `data` that throws `error`). */
function withData(m: JsMsg, data: Uint8Array | PayloadError): JsMsg {
  return Object.create(m, {
    data: {
      get: () => {
        if (data instanceof PayloadError) throw data;
        return data;
      },
    },
  });
}

/**
 * Hand result `m` of map `map` to `handle`, with its payload read from the bucket when it has
 * one (then later: the order of results is not kept, as it is not on the stream either). A
 * payload that cannot be read, or a worker's error result, gives a message whose `data` throws
 * a {@linkcode PayloadError}. Afterwards the result's object (unless `keepResult`: a keyed map's
 * results stay for a coordinator that re-attaches, and their objects expire with the bucket's
 * `max_age`) and the chunk's task object are deleted. Nothing is handed over once the map ended
 * ({@linkcode endPayloads}).
 */
export function unpackResult(
  target: PublishTarget,
  pool: string,
  map: string,
  m: JsMsg,
  handle: (m: JsMsg) => void,
  keepResult = false,
): void {
  const name = m.headers?.get(PAYLOAD_HEADER) ?? "";
  const failed = m.headers?.get(PAYLOAD_ERROR_HEADER) ?? "";
  const p = payloadsIfAny(target, pool);
  if (name === "" && failed === "") {
    handle(m);
    if (p !== undefined && p.stored.size > 0) dropTask(p, map, m);
    return;
  }
  const q = payloadsOf(target, pool);
  if (name === "") {
    const reason = `a worker found it missing: ${MISSING}`;
    handle(
      withData(m, new PayloadError(`read task payload ${failed}`, reason, { received: failed })),
    );
    dropTask(q, map, m);
    return;
  }
  q.track(
    map,
    (async () => {
      let got: { data: Uint8Array; nuid: string } | PayloadError | undefined;
      try {
        got = await q.get(name);
      } catch (e) {
        got = new PayloadError(`read result payload ${name}`, "the bucket did not give it", {
          received: name,
          cause: e,
        });
      }
      if (got === undefined) {
        got = new PayloadError(`read result payload ${name}`, "it is not in the bucket", {
          received: name,
        });
      }
      if (!q.ended.has(map)) {
        handle(withData(m, got instanceof PayloadError ? got : got.data));
      }
      if (!keepResult) await removeResult(q, map, m).catch(() => {});
      dropTask(q, map, m);
    })(),
  );
}

/** Delete the task object of `m`'s chunk, if this side stored one. */
function dropTask(p: Payloads, map: string, m: JsMsg): void {
  const name = taskMsgId(map, m.headers?.get(CHUNK_HEADER) ?? "");
  if (!p.stored.delete(name)) return;
  p.track(map, p.remove([name], { keyed: name }));
}

/**
 * Delete the objects of result `m` (named `r.<map>.<chunk>.<attempt>`): every attempt up to its
 * own, since a worker killed after storing its result and before publishing it leaves one that
 * no message refers to.
 */
function removeResult(p: Payloads, map: string, m: JsMsg): Promise<void> {
  const msgID = resultMsgId(map, m.headers?.get(CHUNK_HEADER) ?? "");
  const attempt = Number(m.headers?.get(ATTEMPT_HEADER) || 1);
  const names = Array.from({ length: attempt }, (_, k) => `${msgID}.${k + 1}`);
  return p.remove(names, { keyed: msgID });
}

/**
 * Map `map` ended: nothing more is handed over, its task objects still stored are deleted, and
 * this resolves once every read and deletion of the map settled.
 */
export async function endPayloads(target: PublishTarget, pool: string, map: string) {
  const p = payloadsIfAny(target, pool);
  if (p === undefined) return;
  p.ended.add(map);
  const prefix = `${map}.`;
  // a put in flight stores its object after a first pass: go again until none is left
  for (let left = true; left;) {
    left = false;
    for (const name of [...p.stored]) {
      if (!name.startsWith(prefix)) continue;
      p.stored.delete(name);
      p.track(map, p.remove([name], { keyed: name }));
    }
    await p.settle(map);
    for (const name of p.stored) left ||= name.startsWith(prefix);
  }
  p.ended.delete(map);
}
