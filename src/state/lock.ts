/**
 * The store's single-writer lock.
 *
 * The lock is an exclusive advisory `flock` on `<store>/.lock`, taken without blocking. The
 * kernel drops it when the holding process exits or dies (SIGKILL included), so a lock left by
 * a dead writer is stale by construction and is simply taken over: no pid probing, and pid reuse
 * cannot fool it. The file also records the holder (pid, host, time) for error messages; it is
 * emptied on a clean release, so finding content in it when the lock is free means the previous
 * holder died without closing (reported as `staleHolder`). Two stores in one process also
 * exclude each other (a flock belongs to an open file description). Network file systems that
 * do not implement flock are not supported for concurrent writers.
 *
 * @module
 */

import { type LockHolder, StoreLockedError } from "./errors.ts";
import { join } from "./fsutil.ts";

/** Name of the lock file inside the store directory. */
export const LOCK_NAME = ".lock";

function parseHolder(text: string): LockHolder | undefined {
  try {
    const v = JSON.parse(text) as LockHolder;
    if (typeof v?.pid === "number") return v;
  } catch {
    // unreadable content: unknown holder
  }
  return undefined;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

/** A held store lock. */
export class StoreLock {
  readonly #file: Deno.FsFile;
  /** The holder recorded by a previous writer that died without releasing, if any. */
  readonly staleHolder: LockHolder | undefined;
  #released = false;

  private constructor(file: Deno.FsFile, stale: LockHolder | undefined) {
    this.#file = file;
    this.staleHolder = stale;
  }

  /** Take the lock of store `dir` or throw {@linkcode StoreLockedError}. */
  static acquire(dir: string): StoreLock {
    const path = join(dir, LOCK_NAME);
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    let locked = false;
    try {
      locked = file.tryLockSync(true);
    } catch (error) {
      file.close();
      throw error;
    }
    if (!locked) {
      file.close();
      let holder: LockHolder | undefined;
      try {
        holder = parseHolder(Deno.readTextFileSync(path));
      } catch {
        holder = undefined;
      }
      throw new StoreLockedError(dir, holder);
    }
    try {
      const previous = new TextDecoder().decode(readAllSync(file)).trim();
      const stale = previous
        ? parseHolder(previous) ?? { pid: -1, hostname: "?", since: "?" }
        : undefined;
      const me: LockHolder = {
        pid: Deno.pid,
        hostname: hostname(),
        since: new Date().toISOString(),
      };
      file.truncateSync(0);
      file.seekSync(0, Deno.SeekMode.Start);
      const bytes = new TextEncoder().encode(JSON.stringify(me) + "\n");
      let off = 0;
      while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
      return new StoreLock(file, stale);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Empty the lock file, drop the lock and close the file. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      this.#file.truncateSync(0);
    } finally {
      try {
        this.#file.unlockSync();
      } finally {
        this.#file.close();
      }
    }
  }
}

function readAllSync(file: Deno.FsFile): Uint8Array {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  let total = 0;
  for (;;) {
    const n = file.readSync(buf);
    if (n === null || n === 0) break;
    chunks.push(buf.slice(0, n));
    total += n;
    if (total > 1 << 20) break;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
