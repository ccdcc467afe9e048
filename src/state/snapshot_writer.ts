/**
 * The save protocol of a {@linkcode StateStore} (see docs/state.md):
 *
 * 1. take the next sequence number (one higher than any snapshot name in the storage, and than
 *    any this writer published);
 * 2. have the storage stage the snapshot (for the file system, `.tmp-<seq>-<random>/` in the
 *    store directory), create a sub-directory per component, call each component's
 *    `saveState(dir, ctx)` in registration order; files written through `ctx` are checksummed
 *    while written; plain files a component wrote itself are found and checksummed afterwards;
 *    then every file and directory is fsynced;
 * 3. write `manifest.json` LAST (sizes, checksums, codecs, dtypes, sequence, time, endianness and
 *    a self-checksum), fsync it and the temporary directory;
 * 4. rename the temporary directory to `<seq, 12 digits>.snapshot` and fsync the store directory.
 *
 * Steps 1-2 (and the manifest's content) are here; the storage does the fsyncs, the manifest
 * write and the publication of steps 2-4 (file_storage.ts for the file system).
 *
 * A crash at any point leaves either a `.tmp-*` directory (not a snapshot; removed when the store
 * is next opened for writing) or a complete snapshot. A failure removes the temporary directory.
 *
 * @module
 */

import { AbortedError, InvalidArgumentError } from "../errors.ts";
import { raceAbort, throwIfAborted } from "../_internal/abort.ts";
import type { ChecksumAlgorithm } from "./checksum.ts";
import { callComponent } from "./component_call.ts";
import { type PersistentState, SaveContextImpl } from "./context.ts";
import { HOST_LITTLE_ENDIAN } from "./dtype.ts";
import { SnapshotWriteError, StateComponentError } from "./errors.ts";
import { join, readChecksummed, writeStep } from "./fsutil.ts";
import {
  encodeManifest,
  type Manifest,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type ManifestFile,
} from "./manifest.ts";
import type { SnapshotStorage, StagedSnapshot } from "./storage.ts";

const ACTION = "save snapshot";

/** What one save writes: the components (in order), the caller's metadata and signal. */
export interface SnapshotRequest {
  /** The components to save, in registration order, as registered when the save started. */
  components: readonly (readonly [string, PersistentState])[];
  /** The store whose callbacks these are (for the re-entrancy guard). */
  owner: object;
  /** The manifest's `meta`, already checked and serialized, or `undefined`. */
  metaText: string | undefined;
  /** Cancels the save (checked before each component and before the rename). */
  signal: AbortSignal | undefined;
}

/** The files and directories a save has written into its temporary directory so far. */
interface Written {
  files: ManifestFile[];
  dirs: string[];
}

/**
 * Writes complete snapshots into one storage, one at a time (the store serializes its
 * operations), and remembers the highest sequence it published. Components write into the local
 * directory the storage stages (for a remote storage, a local temporary directory whose files
 * are uploaded when published).
 */
export class SnapshotWriter {
  readonly #storage: SnapshotStorage;
  readonly #checksum: ChecksumAlgorithm;
  readonly #clock: () => number;
  #lastSequence = 0;

  /**
   * A writer of snapshots into `storage`.
   *
   * @param storage where the snapshots live
   * @param checksum the checksum algorithm of new snapshots
   * @param clock the wall clock of `createdAt` (ms since the epoch)
   */
  constructor(storage: SnapshotStorage, checksum: ChecksumAlgorithm, clock: () => number) {
    this.#storage = storage;
    this.#checksum = checksum;
    this.#clock = clock;
  }

  /** Write, publish and make durable a new snapshot of `request`; return its path. */
  async write(request: SnapshotRequest): Promise<string> {
    const { signal } = request;
    throwIfAborted(ACTION, signal);
    const sequence = Math.max(this.#lastSequence, await this.#storage.maxSequence()) + 1;
    const staged = await this.#storage.stage(sequence);
    try {
      const written: Written = { files: [], dirs: [] };
      for (const [name, component] of request.components) {
        throwIfAborted(ACTION, signal);
        await this.#writeComponent(staged, name, component, request, written);
      }
      const manifest = this.#manifest(sequence, request, written.files);
      const files = written.files.map((f) => f.path);
      const final = await staged.publish({ files, dirs: written.dirs }, manifest, signal);
      this.#lastSequence = sequence;
      return final;
    } catch (error) {
      await staged.discard();
      throw error;
    }
  }

  /** Step 2 for one component: its directory, its `saveState`, then its plain files. */
  async #writeComponent(
    staged: StagedSnapshot,
    name: string,
    component: PersistentState,
    request: SnapshotRequest,
    written: Written,
  ): Promise<void> {
    const componentDir = join(staged.dir, name);
    await writeStep(name, "create", this.#storage.location, Deno.mkdir(componentDir));
    const ctx = new SaveContextImpl(componentDir, name, this.#checksum);
    let viaContext;
    try {
      await raceAbort(
        ACTION,
        callComponent(request.owner, async () => await component.saveState(componentDir, ctx)),
        request.signal,
      );
      viaContext = await ctx.settle();
    } catch (error) {
      await ctx.drain();
      // A write through the context that failed in the file system is reported as such
      // (with the file and the OS reason), not as the component's own failure.
      if (error instanceof AbortedError || error instanceof SnapshotWriteError) throw error;
      throw new StateComponentError(ACTION, name, error);
    }
    for (const file of viaContext) {
      const { name: fileName, ...rest } = file;
      written.files.push({ path: `${name}/${fileName}`, ...rest });
    }
    await this.#collectPlainFiles(staged.dir, name, "", ctx.names(), written);
  }

  /** Find and checksum files a component wrote itself; note its directories for fsync. */
  async #collectPlainFiles(
    root: string,
    component: string,
    sub: string,
    viaContext: Set<string>,
    written: Written,
  ): Promise<void> {
    const dirPath = join(root, component, sub);
    for await (const entry of Deno.readDir(dirPath)) {
      const relative = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        await this.#collectPlainFiles(root, component, relative, viaContext, written);
      } else if (entry.isFile) {
        if (!sub && viaContext.has(entry.name)) continue;
        const digest = await readChecksummed(join(dirPath, entry.name), this.#checksum);
        written.files.push({
          path: `${component}/${relative}`,
          size: digest.size,
          checksum: digest.checksum,
          codec: "file",
        });
      } else {
        throw new StateComponentError(
          ACTION,
          component,
          new InvalidArgumentError(ACTION, "only regular files and directories may be written", {
            received: relative,
          }),
        );
      }
    }
    written.dirs.push(join(component, sub));
  }

  /** Step 3: the manifest (sizes, checksums, ...), which the storage writes last. */
  #manifest(sequence: number, request: SnapshotRequest, files: ManifestFile[]): Uint8Array {
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      sequence,
      createdAt: new Date(this.#clock()).toISOString(),
      littleEndian: HOST_LITTLE_ENDIAN,
      checksum: this.#checksum,
      components: request.components.map(([name]) => name),
      files,
    };
    if (request.metaText !== undefined) manifest.meta = JSON.parse(request.metaText);
    return encodeManifest(manifest);
  }
}
