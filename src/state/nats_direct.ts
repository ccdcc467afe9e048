/**
 * Listing and reading a `NatsStorage`'s buckets without creating a consumer.
 *
 * The client's listings (`kv.keys()`, `os.list()`) and object reads (`os.get*`) each create an
 * ordered push consumer that the server keeps for 5 minutes of inactivity: a store saving a few
 * times a second reached the server's limit ("maximum consumers limit reached") within a
 * minute, and each listing cost a consumer round trip. What a save and a prune need is read here
 * from the stream's own state instead:
 *
 * - the completion markers: the subjects of the KV stream (`STREAM.INFO` with a subject filter);
 *   a marker is removed by purging its subject (then it is no longer among them);
 * - the snapshot names that have objects: the meta subjects of the object store's stream (names
 *   are base64url in the subject; a deleted object keeps its meta subject, which only makes the
 *   next sequence higher);
 * - an object is removed by purging its meta subject (it is gone: no tombstone accumulates per
 *   file of every pruned snapshot, as `os.delete` leaves) and then its chunks;
 * - an object of one chunk (up to the client's 128 KiB chunk size): its meta entry and its chunk
 *   by "last message on subject", checked against the object's SHA-256 digest as the client
 *   does. A larger object is read with the client's `getBlob`.
 *
 * @module
 */

import type { JetStreamManager, ObjectStore } from "./nats_storage_client.ts";

const CHUNK_DIGEST = "SHA-256=";

/** The names of a bucket's streams and subjects (the client's layout, ADR-8 and ADR-20). */
export class BucketSubjects {
  /** The KV stream. */
  readonly kvStream: string;
  /** The object store's stream. */
  readonly objStream: string;
  readonly #bucket: string;

  /** @param bucket the bucket name (KV and object store share it) */
  constructor(bucket: string) {
    this.#bucket = bucket;
    this.kvStream = `KV_${bucket}`;
    this.objStream = `OBJ_${bucket}`;
  }

  /** The subject of KV key `key`. */
  keySubject(key: string): string {
    return `$KV.${this.#bucket}.${key}`;
  }

  /** The prefix of the object store's meta subjects. */
  get metaPrefix(): string {
    return `$O.${this.#bucket}.M.`;
  }

  /** The meta subject of object `name`. */
  metaSubject(name: string): string {
    const utf8 = new TextEncoder().encode(name);
    const b64 = btoa(String.fromCharCode(...utf8)).replace(/\+/g, "-").replace(/\//g, "_");
    return this.metaPrefix + b64;
  }

  /** The subject of the chunks of an object's `nuid`. */
  chunkSubject(nuid: string): string {
    return `$O.${this.#bucket}.C.${nuid}`;
  }
}

/** The subjects holding messages in `stream` under `filter` (no consumer). */
async function subjectsOf(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): Promise<string[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return Object.keys(info.state.subjects ?? {});
}

/** The KV keys under `prefix` (e.g. `snap.`) that hold a message. */
export async function kvKeys(
  jsm: JetStreamManager,
  names: BucketSubjects,
  prefix: string,
): Promise<string[]> {
  const base = names.keySubject("");
  const subjects = await subjectsOf(jsm, names.kvStream, `${base}${prefix}>`);
  return subjects.map((s) => s.slice(base.length));
}

/** Remove every message of KV key `key` (it is no longer listed nor found by `get`). */
export async function purgeKey(
  jsm: JetStreamManager,
  names: BucketSubjects,
  key: string,
): Promise<void> {
  await jsm.streams.purge(names.kvStream, { filter: names.keySubject(key) });
}

/** The names of every object that has a meta entry (deleted ones included). */
export async function objectNames(
  jsm: JetStreamManager,
  names: BucketSubjects,
): Promise<string[]> {
  const prefix = names.metaPrefix;
  const subjects = await subjectsOf(jsm, names.objStream, `${prefix}>`);
  const out: string[] = [];
  for (const subject of subjects) {
    try {
      const b64 = subject.slice(prefix.length).replace(/_/g, "/").replace(/-/g, "+");
      out.push(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
    } catch {
      // not a name this client wrote: not a snapshot's
    }
  }
  return out;
}

async function digestOf(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  const b64 = btoa(String.fromCharCode(...hash)).replace(/\+/g, "-").replace(/\//g, "_");
  return CHUNK_DIGEST + b64;
}

/**
 * The content of object `name`, or `undefined` when absent or deleted. An object of at most one
 * chunk is read by direct message gets; a larger one, or one whose chunk does not match its
 * digest (being replaced meanwhile), through the client.
 */
export async function readObject(
  jsm: JetStreamManager,
  os: ObjectStore,
  names: BucketSubjects,
  name: string,
): Promise<Uint8Array | undefined> {
  const info = await os.info(name);
  if (info === null || info.deleted) return undefined;
  if (info.size === 0) return new Uint8Array(0);
  if (info.chunks === 1) {
    const chunk = await jsm.streams.getMessage(names.objStream, {
      last_by_subj: names.chunkSubject(info.nuid),
    }).catch(() => null);
    if (chunk && chunk.data.byteLength === info.size) {
      if ((await digestOf(chunk.data)) === info.digest) return chunk.data;
    }
  }
  return (await os.getBlob(name)) ?? undefined;
}

/** Remove object `name` whole: its meta subject (it stops existing), then its chunks. */
export async function removeObject(
  jsm: JetStreamManager,
  os: ObjectStore,
  names: BucketSubjects,
  name: string,
): Promise<void> {
  const info = await os.info(name);
  await jsm.streams.purge(names.objStream, { filter: names.metaSubject(name) });
  if (info !== null && !info.deleted) {
    await jsm.streams.purge(names.objStream, { filter: names.chunkSubject(info.nuid) });
  }
}
