/**
 * File-system helpers of the state store: checksummed writes, fsync of files and directories,
 * checksummed reads.
 *
 * @module
 */

import { SpoolError } from "../errors.ts";
import { type ChecksumAlgorithm, createHasher } from "./checksum.ts";
import { SnapshotWriteError } from "./errors.ts";

/** Bytes per write call and per hashed read chunk. */
const CHUNK = 64 * 1024 * 1024;
const READ_CHUNK = 8 * 1024 * 1024;

/** Size and checksum of a written or read file. */
export interface FileDigest {
  /** Exact size in bytes. */
  size: number;
  /** Hex checksum. */
  checksum: string;
}

/**
 * Create `path` (it must not exist), write `bytes` computing the checksum of what is written
 * (no re-read), fsync the file unless `sync` is false (the caller then fsyncs it later), and
 * close it.
 */
export async function writeChecksummed(
  path: string,
  bytes: Uint8Array,
  algorithm: ChecksumAlgorithm,
  sync = true,
): Promise<FileDigest> {
  const hasher = createHasher(algorithm);
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    let offset = 0;
    while (offset < bytes.byteLength) {
      const end = Math.min(offset + CHUNK, bytes.byteLength);
      const chunk = bytes.subarray(offset, end);
      const pending = writeAll(file, chunk);
      hasher.update(chunk);
      await pending;
      offset = end;
    }
    if (sync) await file.sync();
  } finally {
    file.close();
  }
  return { size: bytes.byteLength, checksum: hasher.digest() };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await file.write(bytes.subarray(offset));
}

/** fsync a directory so that the entries created or renamed in it are durable. */
export async function syncDir(path: string): Promise<void> {
  if (Deno.build.os === "windows") return; // directories cannot be opened for fsync there
  const dir = await Deno.open(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** Synchronous {@linkcode syncDir}. */
export function syncDirSync(path: string): void {
  if (Deno.build.os === "windows") return;
  const dir = Deno.openSync(path, { read: true });
  try {
    dir.syncSync();
  } finally {
    dir.close();
  }
}

/** The parent directory of `path` (`"."` for a bare name). */
export function parentOf(path: string): string {
  const i = path.replace(/[\\/]+$/, "").search(/[\\/][^\\/]*$/);
  return i < 0 ? "." : i === 0 ? path[0]! : path.slice(0, i);
}

/** fsync a file (opened again: durability is per inode, not per descriptor). */
export async function syncFile(path: string): Promise<void> {
  // fsync needs no write access on POSIX (the file may be read-only); Windows needs it.
  const file = await Deno.open(path, { read: true, write: Deno.build.os === "windows" });
  try {
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * Read `path` computing size and checksum. With `keepSize` (the expected size), the whole content
 * is read into one fresh buffer of that size and returned too (much faster than `Deno.readFile`,
 * which grows its buffer); without, the file is streamed in chunks. A file shorter or longer
 * than expected reports its real size.
 */
export async function readChecksummed(
  path: string,
  algorithm: ChecksumAlgorithm,
  keepSize?: number,
): Promise<FileDigest & { bytes?: Uint8Array }> {
  const hasher = createHasher(algorithm);
  const file = await Deno.open(path, { read: true });
  try {
    if (keepSize !== undefined) {
      const bytes = new Uint8Array(keepSize);
      let size = 0;
      while (size < keepSize) {
        const n = await file.read(bytes.subarray(size, Math.min(keepSize, size + CHUNK)));
        if (n === null) break;
        hasher.update(bytes.subarray(size, size + n));
        size += n;
      }
      if (size === keepSize) {
        // Anything beyond the expected size makes it a mismatch.
        const probe = new Uint8Array(1);
        const n = await file.read(probe);
        if (n !== null && n > 0) return { size: size + n, checksum: "" };
      }
      return { size, checksum: hasher.digest(), bytes: bytes.subarray(0, size) };
    }
    const buf = new Uint8Array(READ_CHUNK);
    let size = 0;
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      hasher.update(buf.subarray(0, n));
      size += n;
    }
    return { size, checksum: hasher.digest() };
  } finally {
    file.close();
  }
}

/** `true` when `error` says the path does not exist. */
export function isNotFound(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound;
}

/** Join path segments with `/` (snapshot-relative paths always use `/`). */
export function join(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/").replace(/\/{2,}/g, "/");
}

/** A short random suffix for temporary names. */
export function randomSuffix(): string {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `true` when `path` exists (a symbolic link counts, whatever it points to). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/**
 * Await a file-system step of a save; an OS error (a full disk, an I/O error) becomes a
 * {@linkcode SnapshotWriteError} naming the file (relative to the snapshot, `""` for the snapshot
 * itself), the step and `where` (the store's location).
 */
export async function writeStep<T>(
  file: string,
  step: string,
  where: string,
  work: Promise<T>,
): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof SpoolError) throw error;
    const what = file ? JSON.stringify(file) : "the snapshot directory";
    throw new SnapshotWriteError(file, `${step} ${what}`, error, where);
  }
}
