/**
 * The read side of a {@linkcode StateStore}: list the snapshot directories, resolve a target
 * (`"latest"`, a path, a name, a sequence number) to one of them, have it verified in full
 * (snapshot_verifier.ts) and apply it to the registered components.
 *
 * Only complete snapshots, as the storage lists them, are read (for the file system, directories
 * named `<12 digits>.snapshot`: temporary directories of unfinished saves are never snapshots).
 *
 * @module
 */

import { throwIfAborted } from "../_internal/abort.ts";
import { callComponent } from "./component_call.ts";
import { LoadContextImpl, type PersistentState } from "./context.ts";
import { SnapshotCorruptError, SnapshotNotFoundError, StateComponentError } from "./errors.ts";
import { join } from "./fsutil.ts";
import type { Manifest } from "./manifest.ts";
import { readManifest, type VerifiedSnapshot, verifySnapshot } from "./snapshot_verifier.ts";
import type { SnapshotRef, SnapshotStorage } from "./storage.ts";

/** A complete snapshot (valid manifest), as listed by {@linkcode StateStore.list}. */
export interface SnapshotInfo {
  /** Path of the snapshot directory (store directory + name). */
  path: string;
  /** Directory name, `<sequence>.snapshot`. */
  name: string;
  /** Sequence number: strictly increasing per store. */
  sequence: number;
  /** Creation time recorded in the manifest. */
  createdAt: Date;
  /** Total bytes of the files (manifest excluded). */
  bytes: number;
  /** Number of files (manifest excluded). */
  files: number;
  /** Component names, in registration order at save time. */
  components: string[];
  /** Metadata passed to `save({meta})`, if any. */
  meta?: unknown;
}

/** The checked options of a load (see `LoadOptions` of the store). */
export interface ReadOptions {
  /** With `"latest"`: skip a corrupt snapshot (reported to `onCorrupt`) and try an older one. */
  fallback?: boolean;
  /** Receives each corrupt snapshot skipped by `fallback`. */
  onCorrupt?: (error: SnapshotCorruptError) => void;
  /** Load even when a registered component is absent from the snapshot. */
  allowMissing?: boolean;
  /** Checked between files and before the first `loadState`. */
  signal?: AbortSignal;
}

const LOAD = "load snapshot";

/** The info `list()` reports for snapshot `path` with `manifest`. */
export function infoOf(path: string, manifest: Manifest): SnapshotInfo {
  const info: SnapshotInfo = {
    path,
    name: path.split(/[\\/]/).pop() ?? path,
    sequence: manifest.sequence,
    createdAt: new Date(manifest.createdAt),
    bytes: manifest.files.reduce((sum, f) => sum + f.size, 0),
    files: manifest.files.length,
    components: [...manifest.components],
  };
  if (manifest.meta !== undefined) info.meta = manifest.meta;
  return info;
}

/** Reads the snapshots of one storage. */
export class SnapshotReader {
  readonly #storage: SnapshotStorage;
  readonly #locked: boolean;

  /**
   * A reader of the snapshots of `storage`.
   *
   * @param storage where the snapshots live
   * @param locked whether the store holds the writer lock (nobody removes snapshots meanwhile)
   */
  constructor(storage: SnapshotStorage, locked: boolean) {
    this.#storage = storage;
    this.#locked = locked;
  }

  /** The snapshots of the storage, oldest first (manifests not read). */
  snapshotDirs(): Promise<SnapshotRef[]> {
    return this.#storage.snapshots();
  }

  /** The complete snapshots (valid manifest matching the name), oldest first; not verified. */
  async list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const c of await this.snapshotDirs()) {
      try {
        const manifest = await readManifest(this.#storage, c.path);
        if (manifest.sequence !== c.sequence) continue;
        out.push(infoOf(c.path, manifest));
      } catch (error) {
        if (!(error instanceof SnapshotCorruptError)) throw error;
      }
    }
    return out;
  }

  /** Verify snapshot `target` in full without loading it; return its info. */
  async verify(
    target: string | number,
    registered: ReadonlyMap<string, PersistentState>,
  ): Promise<SnapshotInfo> {
    const path = await this.#storage.resolve("verify snapshot", target);
    const verified = await verifySnapshot(this.#storage, path, {
      registered,
      keep: false,
      allowMissing: true,
    });
    return infoOf(path, verified.manifest);
  }

  /**
   * Load `target` (or the newest loadable snapshot for `"latest"`) into the `registered`
   * components; return its path, or `undefined` when `"latest"` finds nothing.
   */
  async load(
    target: string | number,
    registered: ReadonlyMap<string, PersistentState>,
    owner: object,
    options: ReadOptions,
  ): Promise<string | undefined> {
    if (target === "latest") return await this.#loadLatest(registered, owner, options);
    const path = await this.#storage.resolve(LOAD, target);
    const verified = await verifySnapshot(this.#storage, path, {
      ...options,
      registered,
      keep: true,
    });
    await this.#apply(verified, registered, owner, options.signal);
    return path;
  }

  async #loadLatest(
    registered: ReadonlyMap<string, PersistentState>,
    owner: object,
    options: ReadOptions,
  ): Promise<string | undefined> {
    // A store without the lock may read beside a writer whose retention removes snapshots
    // while we list or read them (and readdir may miss entries renamed meanwhile): list again
    // a few times before concluding there is nothing. The writer publishes a new snapshot
    // before removing an old one, so a fresh listing finds it.
    const attempts = this.#locked ? 1 : 4;
    for (let attempt = 0; attempt < attempts; attempt++) {
      let vanished = false;
      const candidates = (await this.snapshotDirs()).reverse();
      for (const c of candidates) {
        let verified: VerifiedSnapshot;
        try {
          verified = await verifySnapshot(this.#storage, c.path, {
            ...options,
            registered,
            keep: true,
          });
        } catch (error) {
          if (error instanceof SnapshotNotFoundError) {
            vanished = true; // removed while we read it
            continue;
          }
          if (error instanceof SnapshotCorruptError && options.fallback) {
            options.onCorrupt?.(error);
            continue;
          }
          throw error;
        }
        await this.#apply(verified, registered, owner, options.signal);
        return c.path;
      }
      if (!vanished && candidates.length > 0) break;
    }
    return undefined;
  }

  /** Call each registered component's `loadState` with its verified files. */
  async #apply(
    verified: VerifiedSnapshot,
    registered: ReadonlyMap<string, PersistentState>,
    owner: object,
    signal?: AbortSignal,
  ): Promise<void> {
    throwIfAborted(LOAD, signal);
    for (const [name, component] of [...registered]) {
      const files = verified.byComponent.get(name);
      if (!files) continue; // allowMissing
      const ctx = new LoadContextImpl(name, files);
      try {
        await callComponent(
          owner,
          async () =>
            await component.loadState(join(this.#storage.localDir(verified.path), name), ctx),
        );
      } catch (error) {
        throw new StateComponentError(LOAD, name, error);
      }
    }
  }
}
