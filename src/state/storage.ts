/**
 * The storage seam of a {@linkcode StateStore}: what the save protocol, the read side, the
 * verification, the lock and retention need from "where snapshots live". The file-system
 * implementation is file_storage.ts; a remote backend (an object store) implements the same
 * interface.
 *
 * Components always see a local directory: they write into the directory of a
 * {@linkcode StagedSnapshot} (for the file system, a temporary directory inside the store; for a
 * remote backend, a local temporary directory whose files `publish` uploads), and they read the
 * `localPath` of each verified file (for a remote backend, a local copy).
 *
 * @module
 */

import type { ChecksumAlgorithm } from "./checksum.ts";
import type { LockHolder } from "./errors.ts";

/** A snapshot of a storage: its path (storage location + name) and its sequence. */
export interface SnapshotRef {
  /** Storage location + snapshot name (`<12 digits>.snapshot`). */
  path: string;
  /** The sequence encoded in the name. */
  sequence: number;
}

/** A held single-writer lock of a storage. */
export interface StorageLock {
  /** The holder recorded by a previous writer that died without releasing, if any. */
  readonly staleHolder: LockHolder | undefined;
  /** Release the lock. Idempotent. */
  release(): void | Promise<void>;
}

/** What a save wrote into its staging directory, relative to it (`component/file`). */
export interface StagedFiles {
  /** Every file written, manifest excluded. */
  files: readonly string[];
  /** Every directory written (component directories and their sub-directories). */
  dirs: readonly string[];
}

/** A snapshot being written: a local directory, then published complete or discarded. */
export interface StagedSnapshot {
  /** The local directory the components write into. */
  readonly dir: string;
  /**
   * Make the staged files durable, add the manifest (written last) and publish the snapshot
   * atomically: after a crash it is complete or absent. Returns the snapshot's path. A failing
   * storage is a {@linkcode SnapshotWriteError}; `signal` is checked before publishing.
   */
  publish(written: StagedFiles, manifest: Uint8Array, signal?: AbortSignal): Promise<string>;
  /** Remove what was staged (after a failure). Never throws. */
  discard(): Promise<void>;
}

/** A snapshot's file as read and checksummed by the storage. */
export interface StoredFile {
  /** Exact size in bytes. */
  size: number;
  /** Hex checksum (empty when the size is not the expected one). */
  checksum: string;
  /** Where the content can be read locally (what a component's `loadState` reads). */
  localPath: string;
  /** The content, when asked for (`keep`) and of the expected size. */
  bytes?: Uint8Array;
}

/**
 * Where the snapshots of a store live. Sequences and names are the store's (see manifest.ts);
 * the storage keeps snapshots complete-or-absent and lists only complete ones.
 */
export interface SnapshotStorage {
  /** Human-readable location (the store directory, a bucket name): error messages and paths. */
  readonly location: string;
  /**
   * Prepare for writing: create the location when missing, take the single-writer lock when
   * `lock` (a second writer gets {@linkcode StoreLockedError}) and then remove leftovers of
   * crashed saves.
   */
  openWriter(lock: boolean): Promise<StorageLock | undefined>;
  /** Prepare for reading only: a missing location is a {@linkcode SnapshotNotFoundError}. */
  openReader(): Promise<void>;
  /** The snapshots, oldest first (manifests not read). */
  snapshots(): Promise<SnapshotRef[]>;
  /** The highest sequence of any snapshot name present, complete or not (0 when none). */
  maxSequence(): Promise<number>;
  /** Start writing snapshot `sequence`. */
  stage(sequence: number): Promise<StagedSnapshot>;
  /** The manifest bytes of snapshot `path`, or `undefined` when it has none. */
  readManifest(path: string): Promise<Uint8Array | undefined>;
  /**
   * Read and checksum file `file` (relative) of snapshot `path`; `undefined` when missing. A
   * file whose size differs from `expectedSize` reports its real size (checksum not computed);
   * with `keep`, the content is returned. Something that is not a regular file is a
   * {@linkcode SnapshotCorruptError}.
   */
  readFile(
    path: string,
    file: string,
    algorithm: ChecksumAlgorithm,
    expectedSize: number,
    keep: boolean,
  ): Promise<StoredFile | undefined>;
  /** The local directory holding the `localPath`s of snapshot `path` (what `loadState` gets). */
  localDir(path: string): string;
  /** Whether snapshot `path` still exists (complete or being removed). */
  hasSnapshot(path: string): Promise<boolean>;
  /** Remove snapshot `path` atomically (it stops being listed first); `false` when absent. */
  removeSnapshot(path: string): Promise<boolean>;
  /**
   * The snapshot path `target` names: a path of this storage, a snapshot name or a sequence.
   * Absent: {@linkcode SnapshotNotFoundError}; not of this storage: `InvalidArgumentError`.
   */
  resolve(action: string, target: string | number): Promise<string>;
  /** Release what the storage holds (a connection, a local cache); the store calls it last. */
  close?(): Promise<void>;
}
