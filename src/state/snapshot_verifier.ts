/**
 * Snapshot verification: read and check a snapshot's manifest, then every file it lists (type,
 * size and checksum), before any component's `loadState` runs. Damage is a
 * {@linkcode SnapshotCorruptError} naming the file; a snapshot removed while being read (pruned
 * by the writer beside a read-only store) is a {@linkcode SnapshotNotFoundError}.
 *
 * @module
 */

import { throwIfAborted } from "../_internal/abort.ts";
import type { PersistentState, VerifiedFile } from "./context.ts";
import { HOST_LITTLE_ENDIAN } from "./dtype.ts";
import { SnapshotCorruptError, SnapshotNotFoundError, StateMismatchError } from "./errors.ts";
import {
  decodeManifest,
  type Manifest,
  MANIFEST_NAME,
  type ManifestFile,
  parseSnapshotName,
} from "./manifest.ts";
import type { SnapshotStorage } from "./storage.ts";

/** A snapshot whose every file was verified, grouped by component. */
export interface VerifiedSnapshot {
  /** The snapshot directory. */
  path: string;
  /** Its manifest. */
  manifest: Manifest;
  /** Component name -> file name (relative to the component) -> verified file. */
  byComponent: Map<string, Map<string, VerifiedFile>>;
}

/** How to verify: for whom, whether to keep contents, whether absent components are allowed. */
export interface VerifyOptions {
  /** The registered components: their files' contents are kept when `keep` is set. */
  registered: ReadonlyMap<string, PersistentState>;
  /** Keep the content of context-written files of registered components (for a load). */
  keep: boolean;
  /** Accept a snapshot without some registered component. */
  allowMissing?: boolean;
  /** Checked between files. */
  signal?: AbortSignal;
}

const ACTION = "load snapshot";

/** Read and decode the manifest of snapshot `path` (a missing one is corruption). */
export async function readManifest(storage: SnapshotStorage, path: string): Promise<Manifest> {
  const bytes = await storage.readManifest(path);
  if (bytes === undefined) {
    throw new SnapshotCorruptError(path, MANIFEST_NAME, "the manifest is missing");
  }
  return decodeManifest(path, bytes);
}

/**
 * Verify every file of snapshot `path`. Damage found in a snapshot directory that has meanwhile
 * disappeared (pruned by the writer while a read-only store reads it) is a
 * {@linkcode SnapshotNotFoundError}, not corruption.
 */
export async function verifySnapshot(
  storage: SnapshotStorage,
  path: string,
  options: VerifyOptions,
): Promise<VerifiedSnapshot> {
  try {
    return await verifyFiles(storage, path, options);
  } catch (error) {
    if (error instanceof SnapshotCorruptError && !(await storage.hasSnapshot(path))) {
      throw new SnapshotNotFoundError(ACTION, "the snapshot was removed while being read", {
        received: path,
        cause: error,
      });
    }
    throw error;
  }
}

async function verifyFiles(
  storage: SnapshotStorage,
  path: string,
  options: VerifyOptions,
): Promise<VerifiedSnapshot> {
  const manifest = await readManifest(storage, path);
  checkManifestFits(path, manifest, options);
  const byComponent = new Map<string, Map<string, VerifiedFile>>();
  for (const c of manifest.components) byComponent.set(c, new Map());
  for (const entry of manifest.files) {
    throwIfAborted(ACTION, options.signal);
    const component = entry.path.slice(0, entry.path.indexOf("/"));
    const keep = options.keep && options.registered.has(component) && entry.codec !== "file";
    const file = await verifyFile(storage, path, manifest, entry, keep);
    byComponent.get(component)!.set(entry.path.slice(component.length + 1), file);
  }
  return { path, manifest, byComponent };
}

/** The manifest matches its directory name, this host, and (unless allowed) every component. */
function checkManifestFits(path: string, manifest: Manifest, options: VerifyOptions): void {
  const nameSequence = parseSnapshotName(path.split(/[\\/]/).pop() ?? "");
  if (nameSequence !== undefined && nameSequence !== manifest.sequence) {
    throw new SnapshotCorruptError(
      path,
      MANIFEST_NAME,
      `the manifest's sequence ${manifest.sequence} does not match the directory name`,
    );
  }
  if (!manifest.littleEndian || !HOST_LITTLE_ENDIAN) {
    throw new SnapshotCorruptError(
      path,
      MANIFEST_NAME,
      "the snapshot or this host is big-endian; only little-endian snapshots are supported",
    );
  }
  if (!options.allowMissing) {
    const missing = [...options.registered.keys()].filter((n) => !manifest.components.includes(n));
    if (missing.length) {
      throw new StateMismatchError(
        ACTION,
        `registered components ${JSON.stringify(missing)} are not in the snapshot ` +
          `(pass allowMissing: true to load the others)`,
        { received: path },
      );
    }
  }
}

/** Verify one file against its manifest entry; keep its content when `keep`. */
async function verifyFile(
  storage: SnapshotStorage,
  path: string,
  manifest: Manifest,
  entry: ManifestFile,
  keep: boolean,
): Promise<VerifiedFile> {
  const digest = await storage.readFile(path, entry.path, manifest.checksum, entry.size, keep);
  if (digest === undefined) {
    throw new SnapshotCorruptError(path, entry.path, "the file is missing");
  }
  if (digest.size !== entry.size) {
    throw new SnapshotCorruptError(
      path,
      entry.path,
      `size ${digest.size} does not match the manifest's ${entry.size}`,
    );
  }
  if (digest.checksum !== entry.checksum) {
    throw new SnapshotCorruptError(
      path,
      entry.path,
      `${manifest.checksum} ${digest.checksum} does not match the manifest's ${entry.checksum}`,
    );
  }
  return { entry, diskPath: digest.localPath, bytes: digest.bytes };
}
