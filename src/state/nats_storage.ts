/**
 * A {@linkcode SnapshotStorage} on NATS JetStream: the snapshots of one store live in an object
 * store bucket (one object per file, named `<snapshot>/<file>`, the manifest included) and a
 * key-value bucket of the same name holds, per complete snapshot, a completion marker
 * `snap.<12 digits>` (written LAST, after every object: a snapshot without it is an upload that
 * was cut and is never listed nor loaded) and the single-writer lock (`lock`).
 *
 * The lock is created if absent (a revision check makes two writers exclusive), carries an
 * expiry and is refreshed by its holder; a lock whose expiry has passed belongs to a dead writer
 * and is taken over (reported as `staleHolder`).
 *
 * Components still see directories: a save stages its files in a local temporary directory and
 * `publish` uploads them; a load downloads each verified file into a local cache directory
 * (removed when the storage is closed) whose copies the components read. A writer taking the
 * lock removes the staging directories of its bucket that a killed writer left in this machine's
 * temporary folder (a killed process's cache directory stays: readers have them too).
 *
 * Listing, removal and the reads of small files create no JetStream consumer (nats_direct.ts).
 *
 * @module
 */

import { InternalError, InvalidArgumentError } from "../errors.ts";
import { throwIfAborted } from "../_internal/abort.ts";
import { optionsOf } from "../_internal/options.ts";
import { type ChecksumAlgorithm, createHasher } from "./checksum.ts";
import { SnapshotNotFoundError } from "./errors.ts";
import { join, parentOf, writeStep } from "./fsutil.ts";
import { decodeManifest, MANIFEST_NAME, parseSnapshotName, snapshotName } from "./manifest.ts";
import {
  BucketSubjects,
  kvKeys,
  objectNames,
  purgeKey,
  readObject,
  removeObject,
} from "./nats_direct.ts";
import { acquireKvLock, type KvLock } from "./nats_lock.ts";
import {
  connectNats,
  type KV,
  Kvm,
  type NatsConnectOptions,
  type NatsHandle,
  type ObjectStore,
  Objm,
} from "./nats_storage_client.ts";
import type {
  SnapshotRef,
  SnapshotStorage,
  StagedFiles,
  StagedSnapshot,
  StorageLock,
  StoredFile,
} from "./storage.ts";
import { NATS_CONNECT_KEYS } from "../nats/options.ts";

const MARK_PREFIX = "snap.";
const BUCKET = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Options of {@linkcode NatsStorage.connect}: where the store lives (`bucket`), its lock's
 * lifetime, and how to reach the server: every field of `NatsConnectOptions` (`servers`,
 * `token`, `user`/`pass`, `nkeySeed`, `credsFile`, `tls`, `name`, `timeoutMs`), checked and used
 * as `connectNats` does.
 */
export interface NatsStorageOptions extends NatsConnectOptions {
  /** The bucket name of the store (1-64 characters of `A-Z a-z 0-9 _ -`). */
  bucket: string;
  /**
   * How long a lock lives without refresh, in ms (default 30000; refreshed every third). A
   * writer killed without releasing blocks the next one for at most this long.
   */
  lockTtlMs?: number;
}

const ACTION = "connect the NATS state storage";
const KNOWN = [...NATS_CONNECT_KEYS, "bucket", "lockTtlMs"];

/** Snapshots in JetStream buckets (see the module documentation). */
export class NatsStorage implements SnapshotStorage {
  /** `nats:<bucket>`: the prefix of the paths of this storage's snapshots. */
  readonly location: string;
  readonly #nats: NatsHandle;
  readonly #bucket: string;
  readonly #names: BucketSubjects;
  readonly #ttl: number;
  #kv: KV | undefined;
  #os: ObjectStore | undefined;
  #cache: string | undefined;
  #held: KvLock | undefined;

  private constructor(nats: NatsHandle, bucket: string, ttl: number) {
    this.#nats = nats;
    this.#bucket = bucket;
    this.#names = new BucketSubjects(bucket);
    this.#ttl = ttl;
    this.location = `nats:${bucket}`;
  }

  /**
   * Connect to the server for the store of `bucket` (nothing is created until the store opens
   * it). The storage owns the connection: `close()` ends it, and `StateStore.withStorage`
   * closes the storage with the store.
   *
   * @param options the bucket, the lock's lifetime and the connection (see
   *   {@linkcode NatsStorageOptions})
   * @throws {InvalidArgumentError} for an unknown key or a bad value, before any connect
   * @throws {NatsConnectError} when no server answers, the credentials are refused or the
   *   server has no JetStream
   *
   * @example
   * ```ts ignore
   * import { NatsStorage, StateStore, jsonState } from "@spool/spool";
   * const storage = await NatsStorage.connect({
   *   servers: "nats://127.0.0.1:4222",
   *   token: Deno.env.get("SPOOL_NATS_TOKEN"),
   *   bucket: "nightly-job",
   * });
   * await using store = await StateStore.withStorage(storage); // the store closes the storage
   * const progress = store.register("progress", jsonState({ done: 0 }));
   * await store.load("latest");
   * progress.value.done++;
   * await store.save();
   * ```
   */
  static async connect(options: NatsStorageOptions): Promise<NatsStorage> {
    const bag = optionsOf(ACTION, options, KNOWN);
    if (bag.bucket === undefined) {
      throw new InvalidArgumentError(ACTION, "bucket is required", { received: options });
    }
    if (typeof bag.bucket !== "string" || !BUCKET.test(bag.bucket)) {
      throw new InvalidArgumentError(ACTION, "bucket must be 1-64 of A-Z a-z 0-9 _ -", {
        received: bag.bucket,
      });
    }
    const ttl = bag.lockTtlMs ?? 30_000;
    if (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl < 3) {
      throw new InvalidArgumentError(ACTION, "lockTtlMs must be an integer >= 3", {
        received: bag.lockTtlMs,
      });
    }
    const connectOptions: Record<string, unknown> = {};
    for (const key of NATS_CONNECT_KEYS) if (bag[key] !== undefined) connectOptions[key] = bag[key];
    const nats = await connectNats(connectOptions as NatsConnectOptions);
    return new NatsStorage(nats, bag.bucket, ttl);
  }

  #buckets(): { kv: KV; os: ObjectStore } {
    if (!this.#kv || !this.#os) {
      throw new InternalError("use the NATS state storage", "it was used before it was opened", {
        received: this.location,
      });
    }
    return { kv: this.#kv, os: this.#os };
  }

  async openReader(): Promise<void> {
    try {
      this.#kv = await new Kvm(this.#nats.nc).open(this.#bucket);
      this.#os = await new Objm(this.#nats.nc).open(this.#bucket);
    } catch (error) {
      throw new SnapshotNotFoundError("open the state store", "the buckets do not exist", {
        received: this.location,
        cause: error,
      });
    }
  }

  async openWriter(lock: boolean): Promise<StorageLock | undefined> {
    this.#kv = await new Kvm(this.#nats.nc).create(this.#bucket, { history: 1 });
    this.#os = await new Objm(this.#nats.nc).create(this.#bucket);
    if (!lock) return undefined;
    const held = await acquireKvLock(this.#kv, this.location, this.#ttl);
    this.#held = held;
    try {
      await this.#cleanLeftovers();
      await this.#cleanLocalStages();
    } catch (error) {
      await held.release();
      throw error;
    }
    return held;
  }

  /** Local staging directories of this bucket: `<prefix><random>` in the temporary folder. */
  #stagePrefix(): string {
    return `spool-nats-stage-${this.#bucket}.`; // "." is not a bucket character
  }

  /**
   * Staging directories of this bucket left in this machine's temporary folder by a writer that
   * was killed mid-save. Only a lock holder stages, and we hold the lock: none is in use.
   */
  async #cleanLocalStages(): Promise<void> {
    const probe = await Deno.makeTempDir({ prefix: this.#stagePrefix() });
    const root = parentOf(probe);
    for await (const entry of Deno.readDir(root)) {
      if (entry.isDirectory && entry.name.startsWith(this.#stagePrefix())) {
        await Deno.remove(join(root, entry.name), { recursive: true }).catch(() => {});
      }
    }
  }

  /** Objects of snapshots without a completion marker: uploads cut by a crash (we hold the lock). */
  async #cleanLeftovers(): Promise<void> {
    const { os } = this.#buckets();
    const complete = new Set((await this.snapshots()).map((s) => s.sequence));
    for (const name of await objectNames(this.#nats.jsm, this.#names)) {
      const sequence = sequenceOfObject(name);
      if (sequence !== undefined && !complete.has(sequence)) {
        await removeObject(this.#nats.jsm, os, this.#names, name);
      }
    }
  }

  // Listings read the streams' subjects (nats_direct.ts): no consumer per call.
  async snapshots(): Promise<SnapshotRef[]> {
    this.#buckets();
    const out: SnapshotRef[] = [];
    for (const key of await kvKeys(this.#nats.jsm, this.#names, MARK_PREFIX)) {
      const name = snapshotNameOfKey(key);
      const sequence = name === undefined ? undefined : parseSnapshotName(name);
      if (sequence !== undefined) out.push({ path: this.#pathOf(sequence), sequence });
    }
    return out.sort((a, b) => a.sequence - b.sequence);
  }

  async maxSequence(): Promise<number> {
    let max = 0;
    for (const s of await this.snapshots()) max = Math.max(max, s.sequence);
    for (const name of await objectNames(this.#nats.jsm, this.#names)) {
      max = Math.max(max, sequenceOfObject(name) ?? 0);
    }
    return max;
  }

  async stage(sequence: number): Promise<StagedSnapshot> {
    const dir = await Deno.makeTempDir({ prefix: this.#stagePrefix() });
    const confirm = () => this.#held?.confirm() ?? Promise.resolve();
    const path = this.#pathOf(sequence);
    return new StagedUpload(this.#buckets(), this.location, dir, sequence, path, confirm);
  }

  readManifest(path: string): Promise<Uint8Array | undefined> {
    return this.#get(path, MANIFEST_NAME);
  }

  async #get(path: string, file: string): Promise<Uint8Array | undefined> {
    const name = `${this.#nameOf(path)}/${file}`;
    return await readObject(this.#nats.jsm, this.#buckets().os, this.#names, name);
  }

  async readFile(
    path: string,
    file: string,
    algorithm: ChecksumAlgorithm,
    expectedSize: number,
    keep: boolean,
  ): Promise<StoredFile | undefined> {
    const bytes = await this.#get(path, file);
    if (bytes === undefined) return undefined;
    const localPath = join(await this.#cacheDir(), this.#nameOf(path), file);
    if (bytes.byteLength !== expectedSize) {
      return { localPath, size: bytes.byteLength, checksum: "" };
    }
    const hasher = createHasher(algorithm);
    hasher.update(bytes);
    await Deno.mkdir(localPath.slice(0, localPath.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(localPath, bytes);
    const out: StoredFile = { localPath, size: bytes.byteLength, checksum: hasher.digest() };
    // A plain Uint8Array at offset 0 (the client may hand a pooled Node Buffer, whose `slice`
    // is a view): typed-array views of the content need its alignment.
    if (keep) {
      out.bytes = bytes.constructor === Uint8Array && bytes.byteOffset === 0
        ? bytes
        : new Uint8Array(bytes);
    }
    return out;
  }

  async #cacheDir(): Promise<string> {
    return this.#cache ??= await Deno.makeTempDir({ prefix: "spool-nats-cache-" });
  }

  localDir(path: string): string {
    return join(this.#cache ?? "", this.#nameOf(path));
  }

  async hasSnapshot(path: string): Promise<boolean> {
    const entry = await this.#buckets().kv.get(MARK_PREFIX + this.#nameOf(path).slice(0, 12));
    return entry !== null && entry.operation === "PUT";
  }

  async removeSnapshot(path: string): Promise<boolean> {
    const { os } = this.#buckets();
    if (!(await this.hasSnapshot(path))) return false;
    const name = this.#nameOf(path);
    const files = await this.#filesOf(path);
    // unlisted first: never half-listed
    await purgeKey(this.#nats.jsm, this.#names, MARK_PREFIX + name.slice(0, 12));
    for (const file of files) {
      await removeObject(this.#nats.jsm, os, this.#names, `${name}/${file}`);
    }
    return true;
  }

  /** The files of snapshot `path` (its manifest's, else every object under its name). */
  async #filesOf(path: string): Promise<string[]> {
    const name = this.#nameOf(path);
    try {
      const bytes = await this.readManifest(path);
      if (bytes !== undefined) {
        return [...decodeManifest(name, bytes).files.map((f) => f.path), MANIFEST_NAME];
      }
    } catch {
      // unreadable manifest: fall back to the names present
    }
    const prefix = `${name}/`;
    return (await objectNames(this.#nats.jsm, this.#names))
      .filter((n) => n.startsWith(prefix))
      .map((n) => n.slice(prefix.length));
  }

  async resolve(action: string, target: string | number): Promise<string> {
    let path: string;
    if (typeof target === "number" && Number.isSafeInteger(target) && target >= 0) {
      path = this.#pathOf(target);
    } else if (typeof target === "string" && parseSnapshotName(target) !== undefined) {
      path = `${this.location}/${target}`;
    } else if (
      typeof target === "string" && target.startsWith(`${this.location}/`) &&
      parseSnapshotName(target.slice(this.location.length + 1)) !== undefined
    ) {
      path = target;
    } else {
      throw new InvalidArgumentError(
        action,
        `target must be a snapshot path of this store (${this.location}/...), a snapshot name ` +
          'or a sequence number or "latest"',
        { received: target },
      );
    }
    if (!(await this.hasSnapshot(path))) {
      throw new SnapshotNotFoundError(action, "no such snapshot", { received: target });
    }
    return path;
  }

  /** Remove the local cache and close the connection. */
  async close(): Promise<void> {
    if (this.#cache) await Deno.remove(this.#cache, { recursive: true }).catch(() => {});
    this.#cache = undefined;
    await this.#nats.close();
  }

  #pathOf(sequence: number): string {
    return `${this.location}/${snapshotName(sequence)}`;
  }

  #nameOf(path: string): string {
    return path.slice(path.lastIndexOf("/") + 1);
  }
}

/** The sequence of the snapshot an object `<snapshot>/<file>` belongs to. */
function sequenceOfObject(name: string): number | undefined {
  return parseSnapshotName(name.slice(0, name.indexOf("/")));
}

function snapshotNameOfKey(key: string): string | undefined {
  return key.startsWith(MARK_PREFIX) ? `${key.slice(MARK_PREFIX.length)}.snapshot` : undefined;
}

/** A local staging directory uploaded when published. */
class StagedUpload implements StagedSnapshot {
  readonly dir: string;
  readonly #buckets: { kv: KV; os: ObjectStore };
  readonly #where: string;
  readonly #sequence: number;
  readonly #path: string;
  readonly #confirmLock: () => Promise<void>;

  constructor(
    buckets: { kv: KV; os: ObjectStore },
    where: string,
    dir: string,
    sequence: number,
    path: string,
    confirmLock: () => Promise<void>,
  ) {
    this.#confirmLock = confirmLock;
    this.#buckets = buckets;
    this.#where = where;
    this.dir = dir;
    this.#sequence = sequence;
    this.#path = path;
  }

  async publish(written: StagedFiles, manifest: Uint8Array, signal?: AbortSignal) {
    const { kv, os } = this.#buckets;
    const name = snapshotName(this.#sequence);
    for (const file of written.files) {
      const bytes = await writeStep(file, "read", this.#where, Deno.readFile(join(this.dir, file)));
      await writeStep(file, "upload", this.#where, os.putBlob({ name: `${name}/${file}` }, bytes));
    }
    await writeStep(
      MANIFEST_NAME,
      "upload",
      this.#where,
      os.putBlob({ name: `${name}/${MANIFEST_NAME}` }, manifest),
    );
    throwIfAborted("save snapshot", signal);
    // Only the lock's holder publishes: a writer whose lock expired and was taken over stops here.
    await this.#confirmLock();
    // The completion marker, written last, publishes the snapshot; `create` refuses a sequence
    // that another writer published meanwhile.
    await writeStep("", "publish", this.#where, kv.create(MARK_PREFIX + name.slice(0, 12), name));
    await this.discard();
    return this.#path;
  }

  async discard(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
