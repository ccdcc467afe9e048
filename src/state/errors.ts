/**
 * Typed errors of the state store.
 *
 * @module
 */

import { SpoolError } from "../errors.ts";

/** A state name was registered twice in one {@linkcode StateStore}. */
export class DuplicateStateError extends SpoolError {}

/** Another process (or another store object in this process) holds the store's write lock. */
export class StoreLockedError extends SpoolError {
  /** What the lock file says about the holder, when readable. */
  readonly holder: LockHolder | undefined;

  /**
   * Build the error for store `dir`, naming the holder when known.
   *
   * @param dir the store directory
   * @param holder the lock file's content, when readable
   */
  constructor(dir: string, holder: LockHolder | undefined) {
    super(
      "open the state store for writing",
      holder
        ? `it is locked by pid ${holder.pid} on ${holder.hostname} since ${holder.since}`
        : "it is locked by another writer",
      { received: dir },
    );
    this.holder = holder;
  }
}

/** What a store's lock file records about its holder. */
export interface LockHolder {
  /** Process id of the holder. */
  pid: number;
  /** Host name of the holder. */
  hostname: string;
  /** ISO time at which the lock was taken. */
  since: string;
}

/**
 * A snapshot that cannot be trusted: missing or invalid manifest, a file missing, a size or
 * checksum mismatch, an unsupported format. Nothing has been loaded when this is thrown.
 */
export class SnapshotCorruptError extends SpoolError {
  /** The snapshot directory. */
  readonly path: string;
  /** The offending file, relative to the snapshot directory (e.g. `"model/weights.bin"`). */
  readonly file: string;

  /**
   * Build the error naming the snapshot and the offending file.
   *
   * @param path the snapshot directory
   * @param file the offending file, relative to the snapshot
   * @param reason what is wrong with it
   * @param options standard error options (`cause`)
   */
  constructor(path: string, file: string, reason: string, options?: ErrorOptions) {
    super("load snapshot", `${reason} in file ${JSON.stringify(file)}`, {
      received: path,
      ...options,
    });
    this.path = path;
    this.file = file;
  }
}

/** An explicit snapshot path that does not exist or is not a snapshot directory. */
export class SnapshotNotFoundError extends SpoolError {}

/** A snapshot lacks a component that is registered (and `allowMissing` was not set). */
export class StateMismatchError extends SpoolError {}

/** A component's `saveState` or `loadState` threw; the component is named, the error is the `cause`. */
export class StateComponentError extends SpoolError {
  /** The registered name of the failing component. */
  readonly component: string;

  /**
   * Wrap what a component threw.
   *
   * @param action "save snapshot" or "load snapshot"
   * @param component the failing component's name
   * @param cause what it threw
   */
  constructor(action: string, component: string, cause: unknown) {
    super(
      action,
      `component ${JSON.stringify(component)} threw ${
        cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
      }`,
      { received: component, cause },
    );
    this.component = component;
  }
}

/**
 * Writing a snapshot failed in the file system (a full disk, a read-only or vanished directory,
 * an I/O error): the OS error is the `cause` and is quoted in the message, `file` names what was
 * being written. The save left no snapshot behind (its temporary directory is removed).
 */
export class SnapshotWriteError extends SpoolError {
  /** The file or directory being written, relative to the snapshot (`"manifest.json"`). */
  readonly file: string;

  /**
   * Build the error for a failed write of `file`.
   *
   * @param file what was being written, relative to the snapshot (`""` for the snapshot itself)
   * @param doing what was being done, e.g. `write "model/value.json"`
   * @param cause the OS error
   * @param where the store directory
   */
  constructor(file: string, doing: string, cause: unknown, where: string) {
    super(
      "save snapshot",
      `${doing} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { received: where, cause },
    );
    this.file = file;
  }
}
