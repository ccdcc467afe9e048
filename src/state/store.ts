/**
 * `StateStore`: crash-safe snapshots of named components. This file is the facade: it opens the
 * store directory and takes its lock, keeps the registrations, runs one operation at a time (and
 * refuses a component calling its own store from a callback), and applies retention (`prune`).
 * The save protocol is in snapshot_writer.ts, the read side (targets, listing, loading) in
 * snapshot_reader.ts and the verification of a snapshot's files in snapshot_verifier.ts (see
 * docs/state.md).
 *
 * A crash at any point leaves either a `.tmp-*` directory (not a snapshot; removed when the store
 * is next opened for writing) or a complete snapshot.
 *
 * @module
 */

import { ClosedError, InvalidArgumentError } from "../errors.ts";
import { isInComponentCall } from "./component_call.ts";
import type { PersistentState } from "./context.ts";
import { DuplicateStateError, type LockHolder } from "./errors.ts";
import { FileStorage } from "./file_storage.ts";
import type { StatesKeeper } from "./keepers.ts";
import { assertName } from "./names.ts";
import { type ReadOptions, type SnapshotInfo, SnapshotReader } from "./snapshot_reader.ts";
import { SnapshotWriter } from "./snapshot_writer.ts";
import type { SnapshotStorage, StorageLock } from "./storage.ts";
import {
  type CheckedSaveOptions,
  type LoadOptions,
  loadOptionsOf,
  type SaveOptions,
  saveOptionsOf,
  type StateStoreOptions,
  storeOptionsOf,
} from "./store_options.ts";

export type { PersistentState } from "./context.ts";
export type { SnapshotInfo } from "./snapshot_reader.ts";
export type { LoadOptions, SaveOptions, StateStoreOptions } from "./store_options.ts";

/** The storage `StateStore.withStorage` opened, handed to the constructor it calls next. */
let opened: { storage: SnapshotStorage; lock: StorageLock | undefined } | undefined;

/**
 * Crash-safe snapshots of registered components.
 *
 * The constructor opens (creating it if needed, with parents) the store directory, takes its
 * single-writer lock (a second writer gets {@linkcode StoreLockedError}) and removes temporary
 * directories left by a crashed save. It does this synchronously; `StateStore.open` is the same
 * as an awaitable. Close it with `close()` or `await using`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StateStore, arrayState, jsonState } from "@spool/spool";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using store = new StateStore(dir);
 *   const config = store.register("config", jsonState({ step: 3 }));
 *   const weights = store.register("weights", arrayState(new Float64Array([1, 2, 3])));
 *   config.value.step = 4;
 *   weights.value[0] = 42;
 *   await store.save();
 * }
 * {
 *   await using store = new StateStore(dir);
 *   const config = store.register("config", jsonState({ step: 0 }));
 *   const weights = store.register("weights", arrayState(new Float64Array(0)));
 *   const path = await store.load("latest");
 *   assert.ok(path !== undefined && path.endsWith("000000000001.snapshot"));
 *   assert.ok(config.value.step === 4 && weights.value[0] === 42);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class StateStore implements AsyncDisposable {
  /** The store directory. */
  readonly dir: string;
  /** Whether the store refuses `save`/`prune`. */
  readonly readOnly: boolean;
  /** The holder of a stale lock this store took over, if any. */
  readonly staleLock: LockHolder | undefined;
  readonly #lock: StorageLock | undefined;
  readonly #storage: SnapshotStorage;
  readonly #keeper: StatesKeeper | undefined;
  readonly #states = new Map<string, PersistentState>();
  readonly #writer: SnapshotWriter;
  readonly #reader: SnapshotReader;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  /**
   * Open the store at `dir`.
   *
   * @param dir the store directory (created with parents when missing)
   * @param options lock, read-only, checksum algorithm, keeper
   */
  constructor(dir: string, options: StateStoreOptions = {}) {
    const action = "open the state store";
    if (typeof dir !== "string" || dir === "") {
      throw new InvalidArgumentError(action, "dir must be a non-empty string", { received: dir });
    }
    const checked = storeOptionsOf(action, options);
    const given = opened;
    opened = undefined;
    const files = given ? undefined : new FileStorage(dir);
    this.#storage = given?.storage ?? files!;
    this.dir = this.#storage.location;
    this.readOnly = checked.readOnly;
    this.#keeper = checked.keeper;
    this.#writer = new SnapshotWriter(this.#storage, checked.checksum, checked.clock);
    this.#reader = new SnapshotReader(this.#storage, checked.lock && !checked.readOnly);
    if (this.readOnly) {
      files?.openReaderSync(action);
      return;
    }
    this.#lock = given ? given.lock : files!.openWriterSync(checked.lock, action);
    this.staleLock = this.#lock?.staleHolder;
    if (this.staleLock) {
      try {
        checked.onStaleLock?.(this.staleLock);
      } catch (error) {
        this.#lock?.release();
        throw error;
      }
    }
  }

  /** Awaitable form of the constructor (same semantics). */
  static open(dir: string, options: StateStoreOptions = {}): Promise<StateStore> {
    try {
      return Promise.resolve(new StateStore(dir, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Open a store on another storage than a directory (e.g. `NatsStorage`): the same store, with
   * the storage's lock and listing; `dir` is the storage's location. The store owns `storage`
   * and closes it when closed (also when opening fails).
   *
   * @param storage where the snapshots live
   * @param options as for the constructor
   */
  static async withStorage(
    storage: SnapshotStorage,
    options: StateStoreOptions = {},
  ): Promise<StateStore> {
    const action = "open the state store";
    try {
      const checked = storeOptionsOf(action, options);
      let lock: StorageLock | undefined;
      if (checked.readOnly) await storage.openReader();
      else lock = await storage.openWriter(checked.lock);
      opened = { storage, lock };
      try {
        return new StateStore(storage.location, options);
      } catch (error) {
        await lock?.release();
        throw error;
      }
    } catch (error) {
      await storage.close?.();
      throw error;
    } finally {
      opened = undefined;
    }
  }

  /** Names of the registered components, in registration order. */
  get names(): string[] {
    return [...this.#states.keys()];
  }

  /**
   * Register a component under `name` (1-128 characters of `A-Z a-z 0-9 _ . -`, no leading dot
   * or dash, no `..`, not `manifest.json`). Returns `obj` for chaining.
   * A name already registered is a {@linkcode DuplicateStateError}.
   */
  register<T extends PersistentState>(name: string, obj: T): T {
    const action = "register a state";
    this.#assertOpen(action);
    assertName(action, "the name", name);
    if (
      obj === null || typeof obj !== "object" && typeof obj !== "function" ||
      typeof obj.saveState !== "function" || typeof obj.loadState !== "function"
    ) {
      throw new InvalidArgumentError(action, "obj must have saveState and loadState methods", {
        received: obj,
      });
    }
    if (this.#states.has(name)) {
      throw new DuplicateStateError(action, "the name is already registered", { received: name });
    }
    this.#states.set(name, obj);
    return obj;
  }

  /** Remove a registration; returns whether `name` was registered. */
  unregister(name: string): boolean {
    return this.#states.delete(name);
  }

  /**
   * Save every registered component into a new complete snapshot and return its path. Saves are
   * serialized (a second `save()` waits for the first). A failing component aborts the save with
   * {@linkcode StateComponentError} and leaves no snapshot behind; a failing file system (a full
   * disk) aborts it with {@linkcode SnapshotWriteError} naming the file and the OS reason.
   */
  save(options: SaveOptions = {}): Promise<string> {
    const action = "save snapshot";
    let checked: CheckedSaveOptions;
    try {
      checked = saveOptionsOf(action, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(action, () => this.#save(checked.metaText, checked.signal));
  }

  async #save(metaText: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    if (this.readOnly) {
      throw new ClosedError("save snapshot", "the store is read-only", { received: this.dir });
    }
    // Registrations made while this save runs belong to the next one.
    const components = [...this.#states];
    const final = await this.#writer.write({ components, owner: this, metaText, signal });
    // Retention runs once the snapshot is published; if it fails, the snapshot stays valid
    // and the error still reaches the caller.
    if (this.#keeper) await this.#prune(this.#keeper);
    return final;
  }

  /**
   * Load a snapshot into the registered components and return its path.
   *
   * `target` is a snapshot path (as returned by `save()`/`list()`), a snapshot directory name in
   * this store, a sequence number, or `"latest"`. With `"latest"` on a store that has no
   * snapshot, it returns `undefined` and loads nothing; temporary directories of unfinished
   * saves are never candidates. Every file of the snapshot is verified (size and checksum)
   * BEFORE any component's `loadState` runs: a damaged snapshot throws
   * {@linkcode SnapshotCorruptError} naming the file and nothing is loaded. With `"latest"` a
   * corrupt newest snapshot throws too, unless `fallback: true` (then each skipped one goes to
   * `onCorrupt` and the next older snapshot is tried). A missing explicit target throws
   * {@linkcode SnapshotNotFoundError}; a path outside this store (`"/etc"`, a snapshot of another
   * store) is an `InvalidArgumentError`.
   */
  load(
    target: string | number | "latest" = "latest",
    options: LoadOptions = {},
  ): Promise<string | undefined> {
    const action = "load snapshot";
    let checked: ReadOptions;
    try {
      checked = loadOptionsOf(action, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(action, () => this.#reader.load(target, this.#states, this, checked));
  }

  /**
   * Verify every file of a snapshot (sizes, checksums, manifest) without loading it; return its
   * info or throw {@linkcode SnapshotCorruptError} / {@linkcode SnapshotNotFoundError}.
   */
  verify(target: string | number): Promise<SnapshotInfo> {
    return this.#exclusive("verify snapshot", () => this.#reader.verify(target, this.#states));
  }

  /**
   * The complete snapshots of the store (those with a valid manifest), sorted by sequence,
   * oldest first. Files are not checksummed here (use `verify`). Foreign files and directories,
   * temporary directories and snapshot directories without a valid manifest are left out.
   */
  list(): Promise<SnapshotInfo[]> {
    if (this.#closed) {
      return Promise.reject(
        new ClosedError("list snapshots", "the store is closed", { received: this.dir }),
      );
    }
    return this.#reader.list();
  }

  /** The newest complete snapshot's info (not verified), or `undefined`. */
  async latest(): Promise<SnapshotInfo | undefined> {
    return (await this.list()).at(-1);
  }

  /**
   * Apply a retention policy now; returns the paths removed. Each removed snapshot is first
   * renamed out of the snapshot namespace (so a crash mid-delete never leaves a damaged
   * snapshot), then deleted.
   */
  prune(keeper: StatesKeeper): Promise<string[]> {
    return this.#exclusive("prune snapshots", () => {
      if (this.readOnly) {
        throw new ClosedError("prune snapshots", "the store is read-only", { received: this.dir });
      }
      if (typeof keeper?.select !== "function") {
        throw new InvalidArgumentError("prune snapshots", "keeper must have select()", {
          received: keeper,
        });
      }
      return this.#prune(keeper);
    });
  }

  async #prune(keeper: StatesKeeper): Promise<string[]> {
    const infos = await this.#reader.list();
    const known = new Map(infos.map((i) => [i.path, i]));
    const removed: string[] = [];
    const selected: unknown = keeper.select(infos);
    if (
      selected === null || typeof selected !== "object" ||
      typeof (selected as Iterable<unknown>)[Symbol.iterator] !== "function"
    ) {
      throw new InvalidArgumentError(
        "prune snapshots",
        "keeper.select() must return an iterable of the SnapshotInfo it was given",
        { received: selected },
      );
    }
    for (const chosen of selected as Iterable<SnapshotInfo>) {
      if (typeof (chosen as Partial<SnapshotInfo> | null)?.path !== "string") {
        throw new InvalidArgumentError(
          "prune snapshots",
          "keeper.select() must return SnapshotInfo objects (with their path)",
          { received: chosen },
        );
      }
      const info = known.get(chosen.path);
      if (!info) continue;
      known.delete(info.path);
      if (await this.#storage.removeSnapshot(info.path)) removed.push(info.path);
    }
    return removed;
  }

  /** Release the lock. Waits for a save or load in progress. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#assertNotReentrant("close the state store");
    this.#closed = true;
    await this.#queue.catch(() => {});
    try {
      await this.#lock?.release();
    } finally {
      await this.#storage.close?.();
    }
  }

  /** Same as {@linkcode StateStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- internals ----

  #assertOpen(action: string): void {
    if (this.#closed) throw new ClosedError(action, "the store is closed", { received: this.dir });
  }

  /** A component calling save/load/prune/verify/close from its own callback would deadlock. */
  #assertNotReentrant(action: string): void {
    if (isInComponentCall(this)) {
      throw new InvalidArgumentError(
        action,
        "called from a component's saveState/loadState of the same store (it would wait for itself)",
        { received: this.dir },
      );
    }
  }

  /** Run `fn` after every operation queued before it; refuse at once when closed. */
  #exclusive<T>(action: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new ClosedError(action, "the store is closed", { received: this.dir }));
    }
    try {
      this.#assertNotReentrant(action);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
