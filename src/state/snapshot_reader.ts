/**
 * The read side of a {@linkcode StateStore}: list the snapshot directories, resolve a target
 * (`"latest"`, a path, a name, a sequence number) to one of them, have it verified in full
 * (snapshot_verifier.ts) and apply it to the registered components.
 *
 * Temporary directories of unfinished saves are never snapshots: only directories named
 * `<12 digits>.snapshot` are read.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { throwIfAborted } from "../_internal/abort.ts";
import { callComponent } from "./component_call.ts";
import { LoadContextImpl, type PersistentState } from "./context.ts";
import { SnapshotCorruptError, SnapshotNotFoundError, StateComponentError } from "./errors.ts";
import { isNotFound, join, parentOf } from "./fsutil.ts";
import { type Manifest, parseSnapshotName, snapshotName } from "./manifest.ts";
import { readManifest, type VerifiedSnapshot, verifySnapshot } from "./snapshot_verifier.ts";

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

/** A snapshot directory: its path and the sequence of its name. */
export interface SnapshotDir {
  /** Store directory + name. */
  path: string;
  /** The sequence encoded in the name. */
  sequence: number;
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

/** Reads the snapshots of one store directory. */
export class SnapshotReader {
  readonly #dir: string;
  readonly #locked: boolean;
  #real: string | undefined;

  /**
   * A reader of the snapshots of store `dir`.
   *
   * @param dir the store directory
   * @param locked whether the store holds the writer lock (nobody removes snapshots meanwhile)
   */
  constructor(dir: string, locked: boolean) {
    this.#dir = dir;
    this.#locked = locked;
  }

  /** The snapshot directories of the store, oldest first (manifests not read). */
  async snapshotDirs(): Promise<SnapshotDir[]> {
    const out: SnapshotDir[] = [];
    for await (const entry of Deno.readDir(this.#dir)) {
      const sequence = parseSnapshotName(entry.name);
      if (sequence === undefined || !entry.isDirectory) continue;
      out.push({ path: join(this.#dir, entry.name), sequence });
    }
    return out.sort((a, b) => a.sequence - b.sequence);
  }

  /** The complete snapshots (valid manifest matching the name), oldest first; not verified. */
  async list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const c of await this.snapshotDirs()) {
      try {
        const manifest = await readManifest(c.path);
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
    const path = await this.resolve("verify snapshot", target);
    const verified = await verifySnapshot(path, { registered, keep: false, allowMissing: true });
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
    const path = await this.resolve(LOAD, target);
    const verified = await verifySnapshot(path, { ...options, registered, keep: true });
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
          verified = await verifySnapshot(c.path, { ...options, registered, keep: true });
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
          async () => await component.loadState(join(verified.path, name), ctx),
        );
      } catch (error) {
        throw new StateComponentError(LOAD, name, error);
      }
    }
  }

  /** The store directory with symbolic links and relative parts resolved (cached). */
  async #realDir(): Promise<string> {
    return this.#real ??= await Deno.realPath(this.#dir);
  }

  /** The snapshot directory `target` names (a path of this store, a name or a sequence). */
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
      return join(this.#dir, snapshotName(target));
    }
    if (typeof target === "string" && parseSnapshotName(target) !== undefined) {
      return join(this.#dir, target);
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
    if (parent === "" || parent !== await this.#realDir()) {
      throw new InvalidArgumentError(
        action,
        `the path is outside this store (${this.#dir}); pass a snapshot path of this store, a ` +
          "snapshot directory name or a sequence number",
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
    return join(this.#dir, name);
  }
}
