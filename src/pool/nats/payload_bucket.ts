/**
 * The payload bucket of a NATS pool (`spool_<pool>_payloads`, an object store): storing, reading
 * (checked against the digest) and removing the bodies too large to send inline, for
 * `large_payload.ts` (the protocol around them: see its module doc). One {@linkcode Payloads}
 * per connection and pool ({@linkcode payloadsOf}); the bucket is created on first use.
 *
 * Layout: the object store's own (meta entry `$O.<bucket>.M.<name in base64url>`, chunks
 * `$O.<bucket>.C.<nuid>`, SHA-256 digest), so the client's `os.get` reads these objects too, but
 * written and read here: chunks are published without waiting for each PubAck, read with one
 * batch direct get (no consumer is created; the client's `get` creates one per read), and the
 * nuid is `<key>.<random>` where the key is a hash of the dedup id the name comes from, so one
 * purge of `<key>.>` removes every object named from it and the chunks of a put cut short.
 *
 * @module
 */

import { SpoolError } from "../../errors.ts";
import {
  headers,
  type JetStreamManager,
  type NatsConnection,
  type ObjectStore,
  Objm,
  StorageType,
} from "./client.ts";
import type { PublishTarget } from "./publish.ts";

/** Bytes of `max_payload` kept for the headers of a message. */
export const HEADROOM = 4096;
/** How long the bucket keeps an object, ms (the bucket's `max_age`). */
export const PAYLOAD_MAX_AGE_MS = 24 * 3_600_000;
/** How long storing or reading a payload keeps trying before its error is final, ms. */
export const PAYLOAD_DEADLINE_MS = 60_000;
const NS = 1_000_000;
const MAX_CHUNK = 128 * 1024;
const DIGEST = "SHA-256=";
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
export function tooLarge(nc: NatsConnection, data: Uint8Array): boolean {
  return data.byteLength > maxPayloadOf(nc) - HEADROOM;
}

function maxPayloadOf(nc: NatsConnection): number {
  return nc.info?.max_payload ?? 1024 * 1024;
}

/** The payloads of one pool on one connection. */
export class Payloads {
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
export function payloadsOf(target: PublishTarget, pool: string): Payloads {
  let pools = sides.get(target.nc);
  if (pools === undefined) sides.set(target.nc, pools = new Map());
  let p = pools.get(pool);
  if (p === undefined) pools.set(pool, p = new Payloads(target, pool));
  return p;
}

/** The payloads of `pool` on `target`'s connection if this side used them yet. */
export function payloadsIfAny(target: PublishTarget, pool: string): Payloads | undefined {
  return sides.get(target.nc)?.get(pool);
}
