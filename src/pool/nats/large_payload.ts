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
 * | store | the sender (coordinator: a task; worker: a result) | {@linkcode packBody}: `put` in chunks of at most `max_payload - HEADROOM` bytes (128 KiB when smaller) |
 * | read | the receiver | meta entry, then its chunks by direct gets (no consumer is created), checked against the object's SHA-256 digest |
 * | delete a result's | the coordinator | once the result was handed to the map (a duplicate's too) |
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

import { SpoolError } from "../../errors.ts";
import {
  headers,
  type JetStreamManager,
  type JsMsg,
  type MsgHdrs,
  type NatsConnection,
  type ObjectStore,
  Objm,
  type PubAck,
  StorageType,
} from "./client.ts";
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

/** Bytes of `max_payload` kept for the headers of a message. */
export const HEADROOM = 4096;
/** How long the bucket keeps an object, ms (the bucket's `max_age`). */
export const PAYLOAD_MAX_AGE_MS = 24 * 3_600_000;
/** How long storing or reading a payload keeps trying before its error is final, ms. */
export const PAYLOAD_DEADLINE_MS = 60_000;
const NS = 1_000_000;
const MAX_CHUNK = 128 * 1024;
const DIGEST = "SHA-256=";
const MISSING = "it is not in the bucket (its chunk has a result, its map ended, or it waited " +
  `longer than the bucket's max_age of ${PAYLOAD_MAX_AGE_MS / 3_600_000} h)`;

/**
 * A body stored in a pool's payload bucket could not be stored or read: it is missing (deleted
 * or expired), does not match its digest, or the server did not answer in time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PayloadError } from "./large_payload.ts";
 * const err = new PayloadError("read payload m.3", "it is not in the bucket", { received: "m.3" });
 * assert.ok(err.message.startsWith("Cannot read payload m.3: it is not in the bucket"));
 * ```
 */
export class PayloadError extends SpoolError {}

/** The bucket of a pool's large payloads. */
export function payloadBucket(pool: string): string {
  return `spool_${pool}_payloads`;
}

/** Whether `data` is too large to travel inline on `nc`. */
function tooLarge(nc: NatsConnection, data: Uint8Array): boolean {
  return data.byteLength > maxPayloadOf(nc) - HEADROOM;
}

function maxPayloadOf(nc: NatsConnection): number {
  return nc.info?.max_payload ?? 1024 * 1024;
}

/** The payloads of one pool on one connection. */
class Payloads {
  readonly #target: PublishTarget;
  readonly #bucket: string;
  #os: Promise<ObjectStore> | undefined;
  #jsm: Promise<JetStreamManager> | undefined;
  /** Names of the task payloads stored by this side (the coordinator) and not deleted yet. */
  readonly stored = new Set<string>();
  /** Deletions and reads in flight, by map. */
  readonly #pending = new Map<string, Set<Promise<unknown>>>();
  /** Maps that ended (a read finishing late hands nothing over). */
  readonly ended = new Set<string>();

  constructor(target: PublishTarget, pool: string) {
    this.#target = target;
    this.#bucket = payloadBucket(pool);
  }

  get nc(): NatsConnection {
    return this.#target.nc;
  }

  get target(): PublishTarget {
    return this.#target;
  }

  #store(): Promise<ObjectStore> {
    this.#os ??= new Objm(this.#target.js).create(this.#bucket, {
      ttl: PAYLOAD_MAX_AGE_MS * NS,
      storage: StorageType.File,
    }).catch((e) => {
      this.#os = undefined;
      throw e;
    });
    return this.#os;
  }

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= this.#target.js.jetstreamManager();
    return this.#jsm;
  }

  /** Keep `p` under `map` until it settles. */
  track(map: string, p: Promise<unknown>): void {
    let set = this.#pending.get(map);
    if (set === undefined) this.#pending.set(map, set = new Set());
    const kept = p.catch(() => {}).finally(() => {
      set.delete(kept);
      if (set.size === 0 && this.#pending.get(map) === set) this.#pending.delete(map);
    });
    set.add(kept);
  }

  /** Wait for what is in flight under `map`. */
  async settle(map: string): Promise<void> {
    for (let set = this.#pending.get(map); set !== undefined; set = this.#pending.get(map)) {
      await Promise.all([...set]);
      if (this.#pending.get(map) === set && set.size === 0) break;
    }
  }

  /**
   * Store `data` as object `name` (the object store's layout, written here so that the chunks
   * are published without waiting for each PubAck, and so that their subject starts with a key
   * of the name: {@linkcode Payloads.remove} purges every version of it, and the chunks of a put
   * that died before its meta entry). Its nuid.
   */
  async put(name: string, data: Uint8Array, keyed = name): Promise<string> {
    const size = Math.max(1024, Math.min(MAX_CHUNK, maxPayloadOf(this.nc) - HEADROOM));
    const key = await keyOf(keyed);
    const { js } = this.#target;
    return await retrying(this.nc, async () => {
      // a new nuid per attempt: chunks a failed attempt left cannot mix with this one's
      const nuid = `${key}.${crypto.randomUUID().replaceAll("-", "")}`;
      const subject = this.chunkSubject(nuid);
      await this.#store();
      try {
        const acks = [];
        for (let at = 0; at < data.byteLength; at += size) {
          acks.push(js.publish(subject, data.subarray(at, at + size)));
        }
        await Promise.all(acks);
        const meta = {
          name,
          description: "",
          options: { max_chunk_size: size },
          bucket: this.#bucket,
          nuid,
          size: data.byteLength,
          chunks: acks.length,
          mtime: new Date().toISOString(),
          digest: await digestOf(data),
          deleted: false,
        };
        const h = headers();
        h.set("Nats-Rollup", "sub"); // the meta subject keeps the newest entry only
        await js.publish(this.#metaSubject(name), JSON.stringify(meta), { headers: h });
        return nuid;
      } catch (e) {
        const jsm = await this.#manager();
        await jsm.streams.purge(this.#stream, { filter: subject }).catch(() => {});
        throw e;
      }
    }, () => false);
  }

  /** The content of object `name` and its nuid, checked against its digest. */
  async get(
    name: string,
    keep: () => void = () => {},
  ): Promise<{ data: Uint8Array; nuid: string } | undefined> {
    for (let attempt = 0;; attempt++) {
      const found = await retrying(this.nc, async () => {
        keep();
        const [os, jsm] = [await this.#store(), await this.#manager()];
        const info = await os.info(name);
        if (info === null || info.deleted) return null;
        const data = await readChunks(jsm, this.#stream, this.chunkSubject(info.nuid), {
          size: info.size,
          chunks: info.chunks,
        });
        return { info, data };
      }, () => false);
      if (found === null) return undefined;
      const { info, data } = found;
      if (data !== undefined && (await digestOf(data)) === info.digest) {
        return { data, nuid: info.nuid };
      }
      // replaced while read (a duplicate result stored again): read the new one, a few times
      if (attempt >= 3) {
        throw new PayloadError(`read payload ${name}`, "it does not match its digest", {
          received: info.digest,
        });
      }
    }
  }

  /**
   * Remove objects: the meta subjects of `names`, and the chunks under `chunks` (a nuid: one
   * object's; else the key of a dedup id, `<key>.>`: every object named from it, and the chunks
   * of a put cut short). Retried across a reconnect, as a put is.
   */
  async remove(names: string[], chunks: { nuid: string } | { keyed: string }): Promise<void> {
    const jsm = await this.#manager();
    const filter = "nuid" in chunks
      ? this.chunkSubject(chunks.nuid)
      : this.chunkSubject(`${await keyOf(chunks.keyed)}.>`);
    await retrying(this.nc, async () => {
      await jsm.streams.purge(this.#stream, { filter });
      for (const name of names) {
        await jsm.streams.purge(this.#stream, { filter: this.#metaSubject(name) });
      }
    }, () => false);
  }

  get #stream(): string {
    return `OBJ_${this.#bucket}`;
  }

  #metaSubject(name: string): string {
    return `$O.${this.#bucket}.M.${metaName(name)}`;
  }

  chunkSubject(nuid: string): string {
    return `$O.${this.#bucket}.C.${nuid}`;
  }
}

/** The object store's encoding of a name in its meta subject (base64url, padded). */
function metaName(name: string): string {
  const utf8 = new TextEncoder().encode(name);
  return btoa(String.fromCharCode(...utf8)).replace(/\+/g, "-").replace(/\//g, "_");
}

/** A key of an object's name, the first token of its chunks' subject (32 hex digits). */
async function keyOf(name: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(name));
  return Array.from(new Uint8Array(hash).subarray(0, 16), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * The chunks of one object by one batch direct get (server 2.11+; no consumer is created);
 * `undefined` when one is missing (the object was replaced or removed meanwhile).
 */
async function readChunks(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  shape: { size: number; chunks: number },
): Promise<Uint8Array | undefined> {
  const out = new Uint8Array(shape.size);
  let at = 0;
  const batch = await jsm.direct.getBatch(stream, {
    seq: 1,
    next_by_subj: subject,
    batch: shape.chunks,
  });
  try {
    for await (const m of batch) {
      if (at + m.data.byteLength > shape.size) return undefined;
      out.set(m.data, at);
      at += m.data.byteLength;
    }
  } catch (e) {
    if (/not found|no message/i.test(String((e as Error)?.message))) return undefined;
    throw e;
  }
  return at === shape.size ? out : undefined;
}

async function digestOf(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return DIGEST + btoa(String.fromCharCode(...hash)).replace(/\+/g, "-").replace(/\//g, "_");
}

/** Run `f` again on an error while the connection is open, until the deadline. */
async function retrying<T>(
  nc: NatsConnection,
  f: () => Promise<T>,
  stopped: () => boolean,
): Promise<T> {
  const end = performance.now() + PAYLOAD_DEADLINE_MS;
  let wait = 100;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (e instanceof PayloadError) throw e;
      if (nc.isClosed() || stopped() || performance.now() + wait > end) throw e;
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 2_000);
  }
}

const sides = new WeakMap<NatsConnection, Map<string, Payloads>>();

/** The payloads of `pool` on `target`'s connection (one per connection and pool). */
function payloadsOf(target: PublishTarget, pool: string): Payloads {
  let pools = sides.get(target.nc);
  if (pools === undefined) sides.set(target.nc, pools = new Map());
  let p = pools.get(pool);
  if (p === undefined) pools.set(pool, p = new Payloads(target, pool));
  return p;
}

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
 * a {@linkcode PayloadError}. Afterwards the result's object and the chunk's task object are
 * deleted. Nothing is handed over once the map ended ({@linkcode endPayloads}).
 */
export function unpackResult(
  target: PublishTarget,
  pool: string,
  map: string,
  m: JsMsg,
  handle: (m: JsMsg) => void,
): void {
  const name = m.headers?.get(PAYLOAD_HEADER) ?? "";
  const failed = m.headers?.get(PAYLOAD_ERROR_HEADER) ?? "";
  const p = sides.get(target.nc)?.get(pool);
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
      await removeResult(q, map, m).catch(() => {});
      dropTask(q, map, m);
    })(),
  );
}

/** Delete the task object of `m`'s chunk, if this side stored one. */
function dropTask(p: Payloads, map: string, m: JsMsg): void {
  const name = taskMsgId(map, Number(m.headers?.get(CHUNK_HEADER)));
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
  const p = sides.get(target.nc)?.get(pool);
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
