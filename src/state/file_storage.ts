/**
 * The file-system {@linkcode SnapshotStorage}: a store directory holding one
 * `<12 digits>.snapshot/` directory per snapshot, the `.lock` file (lock.ts), and the
 * `.tmp-*` / `.trash-*` directories of saves and deletions in progress.
 *
 * Publishing (the end of the save protocol, see snapshot_writer.ts): fsync every staged file and
 * directory, write `manifest.json` LAST, fsync it and the temporary directory, rename the
 * temporary directory to its snapshot name, fsync the store directory. A crash at any point
 * leaves either a `.tmp-*` directory (not a snapshot; removed when the store is next opened for
 * writing) or a complete snapshot. Removal renames the snapshot to `.trash-*` first, so a crash
 * mid-delete never leaves a damaged snapshot.
 *
 * @module
 */

import { InvalidArgumentError, SpoolError } from "../errors.ts";
import { throwIfAborted } from "../_internal/abort.ts";
import type { ChecksumAlgorithm } from "./checksum.ts";
import { SnapshotCorruptError, SnapshotNotFoundError } from "./errors.ts";
import {
  exists,
  isNotFound,
  join,
  parentOf,
  randomSuffix,
  readChecksummed,
  syncDir,
  syncDirSync,
  syncFile,
  writeChecksummed,
  writeStep,
} from "./fsutil.ts";
import { StoreLock } from "./lock.ts";
import { MANIFEST_NAME, parseSnapshotName, snapshotName } from "./manifest.ts";
import type {
  SnapshotRef,
  SnapshotStorage,
  StagedFiles,
  StagedSnapshot,
  StorageLock,
  StoredFile,
} from "./storage.ts";

/** Prefix of the temporary directory of a save in progress. */
export const TEMP_PREFIX = ".tmp-";
const TRASH_PREFIX = ".trash-";
/** Names of temporary and trash directories this store creates (nothing else is cleaned). */
const LEFTOVER = /^\.(tmp|trash)-\d+-[0-9a-f]{12}$/;

/** The store directory exists but cannot be used, or cannot be created. */
function unusable(action: string, dir: string, error: unknown): InvalidArgumentError {
  const why = error instanceof Error ? error.message : String(error);
  return new InvalidArgumentError(
    action,
    error instanceof Deno.errors.NotADirectory || error instanceof Deno.errors.NotFound
      ? `the directory cannot be created: a parent is missing or is not a directory (${why})`
      : `the directory cannot be created or opened (${why})`,
    { received: dir, cause: error },
  );
}

/** Snapshots in a store directory (see the module documentation). */
export class FileStorage implements SnapshotStorage {
  /** The store directory (trailing separators removed). */
  readonly location: string;
  /** The directory as the caller wrote it (for error messages). */
  readonly #given: string;
  #real: string | undefined;

  /**
   * The storage of store directory `dir` (nothing is touched until opened).
   *
   * @param dir the store directory
   */
  constructor(dir: string) {
    this.#given = dir;
    this.location = dir.length > 1 ? dir.replace(/[\\/]+$/, "") : dir;
  }

  /** Synchronous {@linkcode FileStorage.openReader}. */
  openReaderSync(action = "open the state store"): void {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(this.location);
    } catch (error) {
      if (!isNotFound(error) && !(error instanceof Deno.errors.NotADirectory)) {
        throw unusable(action, this.#given, error);
      }
      throw new SnapshotNotFoundError(action, "the directory does not exist", {
        received: this.#given,
        cause: error,
      });
    }
    if (!info.isDirectory) {
      throw new InvalidArgumentError(action, "the path is not a directory", {
        received: this.#given,
      });
    }
  }

  openReader(): Promise<void> {
    return Promise.resolve().then(() => this.openReaderSync());
  }

  /** Synchronous {@linkcode FileStorage.openWriter}. */
  openWriterSync(lock: boolean, action = "open the state store"): StoreLock | undefined {
    this.#ensureDirectory(action);
    if (!lock) return undefined;
    let held: StoreLock;
    try {
      held = StoreLock.acquire(this.location);
    } catch (error) {
      if (error instanceof SpoolError) throw error;
      throw unusable(action, this.#given, error);
    }
    try {
      this.#cleanLeftovers();
    } catch (error) {
      held.release();
      throw error;
    }
    return held;
  }

  openWriter(lock: boolean): Promise<StorageLock | undefined> {
    return Promise.resolve().then(() => this.openWriterSync(lock));
  }

  /** The store directory, created with its parents (durably) when missing. */
  #ensureDirectory(action: string): void {
    const path = this.location;
    let created = false;
    try {
      const info = Deno.statSync(path);
      if (!info.isDirectory) {
        throw new InvalidArgumentError(action, "the path is not a directory", {
          received: this.#given,
        });
      }
    } catch (error) {
      if (error instanceof InvalidArgumentError) throw error;
      if (!isNotFound(error)) throw unusable(action, this.#given, error);
      try {
        Deno.mkdirSync(path, { recursive: true });
      } catch (mkdirError) {
        throw unusable(action, this.#given, mkdirError);
      }
      created = true;
    }
    try {
      if (created) syncDirSync(parentOf(path)); // make the new store directory itself durable
    } catch (error) {
      throw unusable(action, this.#given, error);
    }
  }

  /** Remove `.tmp-*` and `.trash-*` directories left by a crashed writer (we hold the lock). */
  #cleanLeftovers(): void {
    for (const entry of Deno.readDirSync(this.location)) {
      if (entry.isDirectory && LEFTOVER.test(entry.name)) {
        Deno.removeSync(join(this.location, entry.name), { recursive: true });
      }
    }
  }

  async snapshots(): Promise<SnapshotRef[]> {
    const out: SnapshotRef[] = [];
    for await (const entry of Deno.readDir(this.location)) {
      const sequence = parseSnapshotName(entry.name);
      if (sequence === undefined || !entry.isDirectory) continue;
      out.push({ path: join(this.location, entry.name), sequence });
    }
    return out.sort((a, b) => a.sequence - b.sequence);
  }

  async maxSequence(): Promise<number> {
    let max = 0;
    for await (const entry of Deno.readDir(this.location)) {
      const sequence = parseSnapshotName(entry.name);
      if (sequence !== undefined && sequence > max) max = sequence;
    }
    return max;
  }

  async stage(sequence: number): Promise<StagedSnapshot> {
    const tmp = join(this.location, `${TEMP_PREFIX}${sequence}-${randomSuffix()}`);
    await writeStep("", "create", this.location, Deno.mkdir(tmp));
    return new StagedDirectory(this.location, tmp, join(this.location, snapshotName(sequence)));
  }

  async readManifest(path: string): Promise<Uint8Array | undefined> {
    try {
      return await Deno.readFile(join(path, MANIFEST_NAME));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async readFile(
    path: string,
    file: string,
    algorithm: ChecksumAlgorithm,
    expectedSize: number,
    keep: boolean,
  ): Promise<StoredFile | undefined> {
    const localPath = join(path, file);
    try {
      const st = await Deno.stat(localPath);
      if (!st.isFile) throw new SnapshotCorruptError(path, file, "not a regular file");
      if (st.size !== expectedSize) return { localPath, size: st.size, checksum: "" };
      const digest = await readChecksummed(localPath, algorithm, keep ? expectedSize : undefined);
      return { localPath, ...digest };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  localDir(path: string): string {
    return path;
  }

  hasSnapshot(path: string): Promise<boolean> {
    return exists(path);
  }

  async removeSnapshot(path: string): Promise<boolean> {
    const sequence = parseSnapshotName(path.split(/[\\/]/).pop() ?? "") ?? 0;
    const trash = join(this.location, `${TRASH_PREFIX}${sequence}-${randomSuffix()}`);
    try {
      await Deno.rename(path, trash);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    await Deno.remove(trash, { recursive: true });
    // No directory fsync here: if a deletion is lost in a power failure the old snapshot
    // reappears complete (it was renamed away whole) and the next prune removes it again.
    return true;
  }

  async resolve(action: string, target: string | number): Promise<string> {
    const path = typeof target === "string" && /[\\/]/.test(target)
      ? await this.#resolvePath(action, target)
      : this.#resolveName(action, target);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (isNotFound(error)) {
        throw new SnapshotNotFoundError(action, "no such snapshot", {
          received: target,
          cause: error,
        });
      }
      throw error;
    }
    if (!info.isDirectory) {
      throw new SnapshotNotFoundError(action, "the path is not a snapshot directory", {
        received: target,
      });
    }
    return path;
  }

  /** A sequence number or a bare snapshot name (always one of this store). */
  #resolveName(action: string, target: unknown): string {
    if (typeof target === "number") {
      if (!Number.isSafeInteger(target) || target < 0) {
        throw new InvalidArgumentError(action, "a sequence must be an integer >= 0", {
          received: target,
        });
      }
      return join(this.location, snapshotName(target));
    }
    if (typeof target === "string" && parseSnapshotName(target) !== undefined) {
      return join(this.location, target);
    }
    throw new InvalidArgumentError(
      action,
      "target must be a snapshot path of this store, a snapshot directory name, a sequence " +
        'number or "latest"',
      { received: target },
    );
  }

  /**
   * A path: it must name a directory of THIS store (a snapshot of another store, or any other
   * directory, is refused as such, never reported as a corrupt snapshot).
   */
  async #resolvePath(action: string, target: string): Promise<string> {
    const name = target.replace(/[\\/]+$/, "").split(/[\\/]/).pop() ?? "";
    let parent: string;
    try {
      parent = await Deno.realPath(parentOf(target.replace(/[\\/]+$/, "")));
    } catch (error) {
      if (!isNotFound(error) && !(error instanceof Deno.errors.NotADirectory)) throw error;
      parent = "";
    }
    if (parent === "" || parent !== (this.#real ??= await Deno.realPath(this.location))) {
      throw new InvalidArgumentError(
        action,
        `the path is outside this store (${this.location}); pass a snapshot path of this ` +
          "store, a snapshot directory name or a sequence number",
        { received: target },
      );
    }
    if (parseSnapshotName(name) === undefined) {
      throw new SnapshotNotFoundError(
        action,
        "the path is not named like a snapshot directory (NNNNNNNNNNNN.snapshot)",
        { received: target },
      );
    }
    return join(this.location, name);
  }
}

/** A `.tmp-*` directory of the store, renamed to its snapshot name when published. */
class StagedDirectory implements StagedSnapshot {
  readonly dir: string;
  readonly #store: string;
  readonly #final: string;

  constructor(store: string, tmp: string, final: string) {
    this.#store = store;
    this.dir = tmp;
    this.#final = final;
  }

  async publish(written: StagedFiles, manifest: Uint8Array, signal?: AbortSignal) {
    const { dir: tmp } = this;
    const store = this.#store;
    // Every file and directory is durable before the manifest exists; concurrent fsyncs share
    // journal commits, which matters for snapshots of many small files.
    await Promise.all([
      ...written.files.map((f) => writeStep(f, "fsync", store, syncFile(join(tmp, f)))),
      ...written.dirs.map((d) => writeStep(d, "fsync", store, syncDir(join(tmp, d)))),
    ]);
    const manifestPath = join(tmp, MANIFEST_NAME);
    await writeStep(
      MANIFEST_NAME,
      "write",
      store,
      writeChecksummed(manifestPath, manifest, "crc32", false),
    );
    // The manifest's content and its directory entry (and those of the component
    // directories) must be durable before the rename publishes the snapshot.
    await Promise.all([
      writeStep(MANIFEST_NAME, "fsync", store, syncFile(manifestPath)),
      writeStep("", "fsync", store, syncDir(tmp)),
    ]);
    throwIfAborted("save snapshot", signal);
    if (await exists(this.#final)) {
      throw new SpoolError("save snapshot", "a snapshot with this sequence appeared meanwhile", {
        received: this.#final,
      });
    }
    await writeStep("", "rename", store, Deno.rename(tmp, this.#final));
    await writeStep("", "fsync the store directory after renaming", store, syncDir(store));
    return this.#final;
  }

  async discard(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
