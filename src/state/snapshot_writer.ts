/**
 * The save protocol of a {@linkcode StateStore} (see docs/state.md):
 *
 * 1. take the next sequence number (one higher than any snapshot directory name in the store,
 *    and than any this writer published);
 * 2. create `.tmp-<seq>-<random>/` and a sub-directory per component, call each component's
 *    `saveState(dir, ctx)` in registration order; files written through `ctx` are checksummed
 *    while written; plain files a component wrote itself are found and checksummed afterwards;
 *    then every file and directory is fsynced;
 * 3. write `manifest.json` LAST (sizes, checksums, codecs, dtypes, sequence, time, endianness and
 *    a self-checksum), fsync it and the temporary directory;
 * 4. rename the temporary directory to `<seq, 12 digits>.snapshot` and fsync the store directory.
 *
 * A crash at any point leaves either a `.tmp-*` directory (not a snapshot; removed when the store
 * is next opened for writing) or a complete snapshot. A failure removes the temporary directory.
 *
 * @module
 */

import { AbortedError, InvalidArgumentError, SpoolError } from "../errors.ts";
import { raceAbort, throwIfAborted } from "../_internal/abort.ts";
import type { ChecksumAlgorithm } from "./checksum.ts";
import { callComponent } from "./component_call.ts";
import { type PersistentState, SaveContextImpl } from "./context.ts";
import { HOST_LITTLE_ENDIAN } from "./dtype.ts";
import { SnapshotWriteError, StateComponentError } from "./errors.ts";
import {
  exists,
  join,
  randomSuffix,
  readChecksummed,
  syncDir,
  syncFile,
  writeChecksummed,
} from "./fsutil.ts";
import {
  encodeManifest,
  type Manifest,
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  MANIFEST_VERSION,
  type ManifestFile,
  parseSnapshotName,
  snapshotName,
} from "./manifest.ts";

/** Prefix of the temporary directory of a save in progress. */
export const TEMP_PREFIX = ".tmp-";

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

/**
 * Await a file-system step of a save; an OS error (a full disk, an I/O error) becomes a
 * {@linkcode SnapshotWriteError} naming the file and the step.
 */
async function io<T>(file: string, step: string, dir: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof SpoolError) throw error;
    const what = file ? JSON.stringify(file) : "the snapshot directory";
    throw new SnapshotWriteError(file, `${step} ${what}`, error, dir);
  }
}

/** The files and directories a save has written into its temporary directory so far. */
interface Written {
  files: ManifestFile[];
  dirs: string[];
}

/**
 * Writes complete snapshots into one store directory, one at a time (the store serializes its
 * operations), and remembers the highest sequence it published.
 */
export class SnapshotWriter {
  readonly #dir: string;
  readonly #checksum: ChecksumAlgorithm;
  readonly #clock: () => number;
  #lastSequence = 0;

  /**
   * A writer of snapshots into store `dir`.
   *
   * @param dir the store directory
   * @param checksum the checksum algorithm of new snapshots
   * @param clock the wall clock of `createdAt` (ms since the epoch)
   */
  constructor(dir: string, checksum: ChecksumAlgorithm, clock: () => number) {
    this.#dir = dir;
    this.#checksum = checksum;
    this.#clock = clock;
  }

  /** Write, publish and make durable a new snapshot of `request`; return its path. */
  async write(request: SnapshotRequest): Promise<string> {
    const { signal } = request;
    throwIfAborted(ACTION, signal);
    const sequence = Math.max(this.#lastSequence, await this.#maxSequence()) + 1;
    const tmp = join(this.#dir, `${TEMP_PREFIX}${sequence}-${randomSuffix()}`);
    await io("", "create", this.#dir, Deno.mkdir(tmp));
    try {
      const written: Written = { files: [], dirs: [] };
      for (const [name, component] of request.components) {
        throwIfAborted(ACTION, signal);
        await this.#writeComponent(tmp, name, component, request, written);
      }
      await this.#syncWritten(tmp, written);
      await this.#writeManifest(tmp, sequence, request, written.files);
      const final = join(this.#dir, snapshotName(sequence));
      await this.#publish(tmp, final, signal);
      this.#lastSequence = sequence;
      await io("", "fsync the store directory after renaming", this.#dir, syncDir(this.#dir));
      return final;
    } catch (error) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** The highest sequence among the snapshot directory names of the store (0 when none). */
  async #maxSequence(): Promise<number> {
    let max = 0;
    for await (const entry of Deno.readDir(this.#dir)) {
      const sequence = parseSnapshotName(entry.name);
      if (sequence !== undefined && sequence > max) max = sequence;
    }
    return max;
  }

  /** Step 2 for one component: its directory, its `saveState`, then its plain files. */
  async #writeComponent(
    tmp: string,
    name: string,
    component: PersistentState,
    request: SnapshotRequest,
    written: Written,
  ): Promise<void> {
    const componentDir = join(tmp, name);
    await io(name, "create", this.#dir, Deno.mkdir(componentDir));
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
    await this.#collectPlainFiles(tmp, name, "", ctx.names(), written);
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
    written.dirs.push(dirPath);
  }

  /**
   * Make every file and directory durable before the manifest exists; concurrent fsyncs share
   * journal commits, which matters for snapshots of many small files.
   */
  async #syncWritten(tmp: string, written: Written): Promise<void> {
    await Promise.all([
      ...written.files.map((f) => io(f.path, "fsync", this.#dir, syncFile(join(tmp, f.path)))),
      ...written.dirs.map((d) => io(d.slice(tmp.length + 1), "fsync", this.#dir, syncDir(d))),
    ]);
  }

  /** Step 3: the manifest, written last, then fsynced with the temporary directory. */
  async #writeManifest(
    tmp: string,
    sequence: number,
    request: SnapshotRequest,
    files: ManifestFile[],
  ): Promise<void> {
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
    const manifestPath = join(tmp, MANIFEST_NAME);
    const manifestBytes = encodeManifest(manifest);
    await io(
      MANIFEST_NAME,
      "write",
      this.#dir,
      writeChecksummed(manifestPath, manifestBytes, "crc32", false),
    );
    // The manifest's content and its directory entry (and those of the component
    // directories) must be durable before the rename publishes the snapshot.
    await Promise.all([
      io(MANIFEST_NAME, "fsync", this.#dir, syncFile(manifestPath)),
      io("", "fsync", this.#dir, syncDir(tmp)),
    ]);
  }

  /** Step 4: rename the complete temporary directory to its snapshot name. */
  async #publish(tmp: string, final: string, signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(ACTION, signal);
    if (await exists(final)) {
      throw new SpoolError(ACTION, "a snapshot with this sequence appeared meanwhile", {
        received: final,
      });
    }
    await io("", "rename", this.#dir, Deno.rename(tmp, final));
  }
}
