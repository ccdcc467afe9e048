/**
 * The component interface {@linkcode PersistentState} and the contexts handed to components:
 * {@linkcode SaveContext} writes checksummed files, {@linkcode LoadContext} reads verified ones.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import type { ChecksumAlgorithm } from "./checksum.ts";
import { type DType, dtypeOf, viewAs } from "./dtype.ts";
import { type NumericArray } from "../_internal/typed_arrays.ts";
import { SnapshotWriteError, StateMismatchError } from "./errors.ts";
import { join, writeChecksummed } from "./fsutil.ts";
import { jsonRefusal, jsonRefusalReason } from "./json.ts";
import type { Codec, ManifestFile } from "./manifest.ts";
import { assertName } from "./names.ts";

/**
 * Writes a component's files into its snapshot directory, computing each file's size and
 * checksum while writing (the store records them in the manifest).
 *
 * Every method returns a promise; the store also awaits writes the component did not await, so
 * a synchronous `saveState` may call them and return. JSON is serialized at call time; bytes and
 * arrays are read while being written, so do not mutate them until the promise (or the `save()`)
 * has resolved.
 */
export interface SaveContext {
  /** The component's name in the store. */
  readonly component: string;
  /**
   * Write `value` as UTF-8 JSON. A value JSON would change or drop (NaN, Infinity, undefined in
   * an array, a function, a symbol, a bigint, a Date, Map, Set, typed array or class instance,
   * a cycle) is refused synchronously with `InvalidArgumentError` naming its path.
   */
  writeJson(name: string, value: unknown): Promise<void>;
  /** Write raw bytes. */
  writeBytes(name: string, bytes: Uint8Array): Promise<void>;
  /** Write a numeric typed array as raw little-endian binary; dtype and length go to the manifest. */
  writeArray(name: string, array: NumericArray | ArrayBufferView): Promise<void>;
}

/**
 * Reads a component's files from a snapshot that has already been verified in full (sizes and
 * checksums of every file) before any component's `loadState` was called.
 */
export interface LoadContext {
  /** The component's name in the store. */
  readonly component: string;
  /** `true` when the component's part of the snapshot has a file `name`. */
  has(name: string): boolean;
  /** Names of the component's files (plain files in sub-directories as `sub/name`). */
  files(): string[];
  /** Parse file `name` as JSON. */
  readJson<T = unknown>(name: string): T;
  /** The bytes of file `name` (a fresh buffer you may keep). */
  readBytes(name: string): Uint8Array;
  /** File `name` (written with `writeArray`) as a typed array of its recorded dtype. */
  readArray<T extends NumericArray = NumericArray>(name: string): T;
}

/**
 * A component whose state the store saves and loads.
 *
 * `saveState` receives an empty directory of its own and a {@linkcode SaveContext}; it may write
 * through the context (checksummed while written, codecs recorded) and/or write plain files and
 * sub-directories into `dir` itself (the store finds, checksums and fsyncs them). `loadState`
 * receives the same directory of a snapshot that has been verified in full, and a
 * {@linkcode LoadContext} to read what was written through the context.
 */
export interface PersistentState {
  /** Write this component's state into `dir` (empty, owned by the component). */
  saveState(dir: string, ctx: SaveContext): void | Promise<void>;
  /** Restore this component's state from `dir` (already verified). */
  loadState(dir: string, ctx: LoadContext): void | Promise<void>;
}

/** A file written through a {@linkcode SaveContext} (path relative to the component dir). */
export type WrittenFile = Omit<ManifestFile, "path"> & { name: string };

/** Implementation used by the store. */
export class SaveContextImpl implements SaveContext {
  readonly component: string;
  readonly #dir: string;
  readonly #algorithm: ChecksumAlgorithm;
  readonly #written = new Map<string, WrittenFile | null>();
  readonly #pending: Promise<void>[] = [];

  constructor(dir: string, component: string, algorithm: ChecksumAlgorithm) {
    this.#dir = dir;
    this.component = component;
    this.#algorithm = algorithm;
  }

  writeJson(name: string, value: unknown): Promise<void> {
    const action = "write a JSON state file";
    assertName(action, "the file name", name);
    const refused = jsonRefusal(value);
    if (refused) {
      throw new InvalidArgumentError(
        action,
        `${JSON.stringify(name)}: ${jsonRefusalReason(refused)}`,
        { received: refused.value },
      );
    }
    this.#claim(action, name);
    return this.#write(name, new TextEncoder().encode(JSON.stringify(value)), "json");
  }

  writeBytes(name: string, bytes: Uint8Array): Promise<void> {
    const action = "write a bytes state file";
    if (!(bytes instanceof Uint8Array)) {
      throw new InvalidArgumentError(action, "bytes must be a Uint8Array", { received: bytes });
    }
    this.#claim(action, name);
    return this.#write(name, bytes, "bytes");
  }

  writeArray(name: string, array: NumericArray | ArrayBufferView): Promise<void> {
    const action = "write an array state file";
    const dtype = dtypeOf(array);
    if (dtype === undefined) {
      throw new InvalidArgumentError(action, "array must be a numeric typed array", {
        received: array,
      });
    }
    this.#claim(action, name);
    const view = array as NumericArray;
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    return this.#write(name, bytes, "array", dtype, view.length);
  }

  #claim(action: string, name: string): void {
    assertName(action, "the file name", name);
    if (this.#written.has(name)) {
      throw new InvalidArgumentError(action, `component ${this.component} already wrote it`, {
        received: name,
      });
    }
    this.#written.set(name, null);
  }

  #write(
    name: string,
    bytes: Uint8Array,
    codec: Codec,
    dtype?: DType,
    length?: number,
  ): Promise<void> {
    // Not fsynced here: the store fsyncs every file of the snapshot concurrently afterwards.
    const p = writeChecksummed(join(this.#dir, name), bytes, this.#algorithm, false).then((d) => {
      const entry: WrittenFile = { name, size: d.size, checksum: d.checksum, codec };
      if (dtype !== undefined) {
        entry.dtype = dtype;
        entry.length = length;
      }
      this.#written.set(name, entry);
    }, (error) => {
      const file = `${this.component}/${name}`;
      throw new SnapshotWriteError(file, `write ${JSON.stringify(file)}`, error, this.#dir);
    });
    this.#pending.push(p);
    // The store collects every failure in settle(); a write the component did not await must
    // not surface as an unhandled rejection before that.
    p.catch(() => {});
    return p;
  }

  /** Wait for every write; rethrow the first failure. */
  async settle(): Promise<WrittenFile[]> {
    const results = await Promise.allSettled(this.#pending);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return [...this.#written.values()].filter((f): f is WrittenFile => f !== null);
  }

  /** Wait for every write, ignoring failures (used when the save is being abandoned). */
  async drain(): Promise<void> {
    await Promise.allSettled(this.#pending);
  }

  /** Names written through this context. */
  names(): Set<string> {
    return new Set(this.#written.keys());
  }
}

/** A verified file available to a {@linkcode LoadContext}. */
export interface VerifiedFile {
  /** Manifest entry (path relative to the snapshot). */
  entry: ManifestFile;
  /** Absolute-or-store-relative path on disk. */
  diskPath: string;
  /** Content kept from verification (codecs other than `file`). */
  bytes?: Uint8Array;
}

/** Implementation used by the store. */
export class LoadContextImpl implements LoadContext {
  readonly component: string;
  readonly #files: Map<string, VerifiedFile>;
  readonly #taken = new Set<string>();

  constructor(component: string, files: Map<string, VerifiedFile>) {
    this.component = component;
    this.#files = files;
  }

  has(name: string): boolean {
    return this.#files.has(name);
  }

  files(): string[] {
    return [...this.#files.keys()];
  }

  readJson<T = unknown>(name: string): T {
    const bytes = this.#bytes("read a JSON state file", name, false);
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  }

  readBytes(name: string): Uint8Array {
    return this.#bytes("read a bytes state file", name, true);
  }

  readArray<T extends NumericArray = NumericArray>(name: string): T {
    const action = "read an array state file";
    const file = this.#get(action, name);
    if (file.entry.codec !== "array" || !file.entry.dtype || file.entry.length === undefined) {
      throw new InvalidArgumentError(action, "the file was not written with writeArray", {
        received: name,
      });
    }
    return viewAs(file.entry.dtype, this.#bytes(action, name, true), file.entry.length) as T;
  }

  #get(action: string, name: string): VerifiedFile {
    const file = this.#files.get(name);
    if (!file) {
      throw new StateMismatchError(
        action,
        `component ${JSON.stringify(this.component)} has no such file in the snapshot`,
        { received: name },
      );
    }
    return file;
  }

  #bytes(action: string, name: string, own: boolean): Uint8Array {
    const file = this.#get(action, name);
    if (!file.bytes) {
      // A plain file: verified already, read it now.
      return Deno.readFileSync(file.diskPath);
    }
    if (!own) return file.bytes;
    if (this.#taken.has(name)) return file.bytes.slice();
    this.#taken.add(name);
    return file.bytes;
  }
}
