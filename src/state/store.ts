/**
 * `StateStore`: crash-safe snapshots of named components.
 *
 * Protocol of a save (see docs/state.md):
 * 1. take the next sequence number (one higher than any snapshot directory name in the store);
 * 2. create `.tmp-<seq>-<random>/` and a sub-directory per component, call each component's
 *    `saveState(dir, ctx)` in registration order; files written through `ctx` are checksummed
 *    while written and fsynced; plain files a component wrote itself are found, checksummed and
 *    fsynced afterwards; every directory is fsynced;
 * 3. write `manifest.json` LAST (sizes, checksums, codecs, dtypes, sequence, time, endianness and
 *    a self-checksum), fsync it and the temporary directory;
 * 4. rename the temporary directory to `<seq, 12 digits>.snapshot` and fsync the store directory.
 *
 * A crash at any point leaves either a `.tmp-*` directory (not a snapshot; removed when the store
 * is next opened for writing) or a complete snapshot.
 *
 * @module
 */

import { AbortedError, ClosedError, InvalidArgumentError, SpoolError } from "../errors.ts";
import { raceAbort, throwIfAborted } from "../_internal/abort.ts";
import {
  optionalBoolean,
  optionalFunction,
  optionalOneOf,
  optionalSignal,
  optionsOf,
} from "../_internal/options.ts";
import type { ChecksumAlgorithm } from "./checksum.ts";
import {
  type LoadContext,
  LoadContextImpl,
  type SaveContext,
  SaveContextImpl,
  type VerifiedFile,
} from "./context.ts";
import { HOST_LITTLE_ENDIAN } from "./dtype.ts";
import {
  DuplicateStateError,
  type LockHolder,
  SnapshotCorruptError,
  SnapshotNotFoundError,
  SnapshotWriteError,
  StateComponentError,
  StateMismatchError,
} from "./errors.ts";
import { toExactJson } from "./json.ts";
import {
  isNotFound,
  join,
  parentOf,
  randomSuffix,
  readChecksummed,
  syncDir,
  syncDirSync,
  syncFile,
  writeChecksummed,
} from "./fsutil.ts";
import type { StatesKeeper } from "./keepers.ts";
import { StoreLock } from "./lock.ts";
import {
  decodeManifest,
  encodeManifest,
  type Manifest,
  MANIFEST_FORMAT,
  MANIFEST_NAME,
  MANIFEST_VERSION,
  type ManifestFile,
  parseSnapshotName,
  snapshotName,
} from "./manifest.ts";
import { assertName } from "./names.ts";
import { AsyncLocalStorage } from "node:async_hooks";

/** Which store's component callback the current async context runs in (re-entrancy guard). */
const inCallback = new AsyncLocalStorage<StateStore>();

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

/** Options of {@linkcode StateStore}. */
export interface StateStoreOptions {
  /**
   * Take the store's single-writer lock (default `true`). Without it, nothing stops another
   * writer and leftover temporary directories are not cleaned; use `readOnly` to inspect or
   * load from a store another process writes to.
   */
  lock?: boolean;
  /** Open for `list`/`load`/`verify` only: no lock, `save` and `prune` throw. Default `false`. */
  readOnly?: boolean;
  /** Checksum algorithm of new snapshots (default `"crc32"`). Loading accepts either. */
  checksum?: ChecksumAlgorithm;
  /** Retention policy applied after every successful save. */
  keeper?: StatesKeeper;
  /** Called when the lock was taken over from a writer that died without closing. */
  onStaleLock?: (holder: LockHolder) => void;
  /**
   * Wall clock (ms since the epoch) for `createdAt`, default `Date.now`. Only informational:
   * names and `latest` depend on sequence numbers, never on time.
   */
  clock?: () => number;
}

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

/** Options of {@linkcode StateStore.save}. */
export interface SaveOptions {
  /**
   * JSON metadata stored in the manifest and reported by `list()` (e.g. a loop position). A value
   * JSON would change or drop (NaN, a function, a Date, ...) is an `InvalidArgumentError` naming
   * its path (`meta.position.byFile[0] is NaN`); nothing is saved.
   */
  meta?: unknown;
  /**
   * Cancel the save: checked before each component and before the final rename; an aborted
   * save leaves no snapshot and rejects with `AbortedError`.
   */
  signal?: AbortSignal;
}

/** Options of {@linkcode StateStore.load}. */
export interface LoadOptions {
  /**
   * With `"latest"`: when the newest snapshot is corrupt, report it through `onCorrupt` and try
   * the next older one instead of throwing. Default `false` (a corrupt newest snapshot throws
   * {@linkcode SnapshotCorruptError}).
   */
  fallback?: boolean;
  /** Receives each corrupt snapshot skipped by `fallback`. */
  onCorrupt?: (error: SnapshotCorruptError) => void;
  /**
   * Load even when a registered component is absent from the snapshot (its `loadState` is not
   * called). Default `false`: {@linkcode StateMismatchError} before anything is loaded.
   */
  allowMissing?: boolean;
  /** Cancel the load: checked between files and before the first `loadState` (then too late). */
  signal?: AbortSignal;
}

interface Prepared {
  path: string;
  manifest: Manifest;
  byComponent: Map<string, Map<string, VerifiedFile>>;
}

const STORE_OPTIONS = ["lock", "readOnly", "checksum", "keeper", "onStaleLock", "clock"] as const;
const SAVE_OPTIONS = ["meta", "signal"] as const;
const LOAD_OPTIONS = ["fallback", "onCorrupt", "allowMissing", "signal"] as const;
const CHECKSUMS: readonly ChecksumAlgorithm[] = ["crc32", "sha256"];

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

/** The store directory exists but cannot be used, or cannot be created. */
function unusable(action: string, dir: string, error: unknown): InvalidArgumentError {
  const why = error instanceof Error ? error.message : String(error);
  return new InvalidArgumentError(
    action,
    error instanceof Deno.errors.NotADirectory || error instanceof Deno.errors.NotFound
      ? `the directory cannot be created: a parent is missing or is not a directory (${why})`
      : `the directory cannot be created or opened (${why})`,
    { received: dir, cause: error },
  );
}

const TEMP_PREFIX = ".tmp-";
const TRASH_PREFIX = ".trash-";
/** Names of temporary and trash directories this store creates (nothing else is cleaned). */
const LEFTOVER = /^\.(tmp|trash)-\d+-[0-9a-f]{12}$/;

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
  readonly #lock: StoreLock | undefined;
  readonly #checksum: ChecksumAlgorithm;
  readonly #keeper: StatesKeeper | undefined;
  readonly #clock: () => number;
  readonly #states = new Map<string, PersistentState>();
  #queue: Promise<unknown> = Promise.resolve();
  #real: string | undefined;
  #closed = false;
  #lastSequence = 0;

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
    const o = optionsOf(action, options, STORE_OPTIONS);
    const lock = optionalBoolean(action, "lock", o.lock) ?? true;
    const readOnly = optionalBoolean(action, "readOnly", o.readOnly) ?? false;
    const checksum = optionalOneOf(action, "checksum", o.checksum, CHECKSUMS) ?? "crc32";
    const keeper = o.keeper as StatesKeeper | undefined;
    if (keeper !== undefined && typeof keeper?.select !== "function") {
      throw new InvalidArgumentError(action, "keeper must have a select() method", {
        received: keeper,
      });
    }
    const onStaleLock = optionalFunction<(holder: LockHolder) => void>(
      action,
      "onStaleLock",
      o.onStaleLock,
    );
    const clock = optionalFunction<() => number>(action, "clock", o.clock);
    this.dir = dir.length > 1 ? dir.replace(/[\\/]+$/, "") : dir;
    this.readOnly = readOnly;
    this.#checksum = checksum;
    this.#keeper = keeper;
    this.#clock = clock ?? Date.now;
    if (this.readOnly) {
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(this.dir);
      } catch (error) {
        if (!isNotFound(error) && !(error instanceof Deno.errors.NotADirectory)) {
          throw unusable(action, dir, error);
        }
        throw new SnapshotNotFoundError(action, "the directory does not exist", {
          received: dir,
          cause: error,
        });
      }
      if (!info.isDirectory) {
        throw new InvalidArgumentError(action, "the path is not a directory", { received: dir });
      }
      return;
    }
    let created = false;
    try {
      const info = Deno.statSync(this.dir);
      if (!info.isDirectory) {
        throw new InvalidArgumentError(action, "the path is not a directory", { received: dir });
      }
    } catch (error) {
      if (error instanceof InvalidArgumentError) throw error;
      if (!isNotFound(error)) throw unusable(action, dir, error);
      try {
        Deno.mkdirSync(this.dir, { recursive: true });
      } catch (mkdirError) {
        throw unusable(action, dir, mkdirError);
      }
      created = true;
    }
    try {
      if (created) syncDirSync(parentOf(this.dir)); // make the new store directory itself durable
    } catch (error) {
      throw unusable(action, dir, error);
    }
    if (lock) {
      try {
        this.#lock = StoreLock.acquire(this.dir);
      } catch (error) {
        if (error instanceof SpoolError) throw error;
        throw unusable(action, dir, error);
      }
      this.staleLock = this.#lock.staleHolder;
      try {
        this.#cleanLeftovers();
        if (this.staleLock) onStaleLock?.(this.staleLock);
      } catch (error) {
        this.#lock.release();
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

  /** Remove `.tmp-*` and `.trash-*` directories left by a crashed writer (we hold the lock). */
  #cleanLeftovers(): void {
    for (const entry of Deno.readDirSync(this.dir)) {
      if (entry.isDirectory && LEFTOVER.test(entry.name)) {
        Deno.removeSync(join(this.dir, entry.name), { recursive: true });
      }
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
    let metaText: string | undefined;
    let signal: AbortSignal | undefined;
    try {
      const o = optionsOf(action, options, SAVE_OPTIONS);
      signal = optionalSignal(action, "signal", o.signal);
      // Checked (and copied) now: a value JSON would change is refused, never altered.
      if (o.meta !== undefined) metaText = toExactJson(action, o.meta, "meta");
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(action, () => this.#save(metaText, signal));
  }

  async #save(metaText: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    const action = "save snapshot";
    if (this.readOnly) {
      throw new ClosedError(action, "the store is read-only", { received: this.dir });
    }
    throwIfAborted(action, signal);
    const seq = Math.max(this.#lastSequence, await this.#maxSequence()) + 1;
    const tmp = join(this.dir, `${TEMP_PREFIX}${seq}-${randomSuffix()}`);
    await io("", "create", this.dir, Deno.mkdir(tmp));
    try {
      const files: ManifestFile[] = [];
      const dirs: string[] = [];
      // Registrations made while this save runs belong to the next one.
      const entries = [...this.#states];
      for (const [name, obj] of entries) {
        throwIfAborted(action, signal);
        const compDir = join(tmp, name);
        await io(name, "create", this.dir, Deno.mkdir(compDir));
        const ctx = new SaveContextImpl(compDir, name, this.#checksum);
        let written;
        try {
          await raceAbort(
            action,
            inCallback.run(this, async () => await obj.saveState(compDir, ctx)),
            signal,
          );
          written = await ctx.settle();
        } catch (error) {
          await ctx.drain();
          // A write through the context that failed in the file system is reported as such
          // (with the file and the OS reason), not as the component's own failure.
          if (error instanceof AbortedError || error instanceof SnapshotWriteError) throw error;
          throw new StateComponentError(action, name, error);
        }
        for (const w of written) {
          const { name: fileName, ...rest } = w;
          files.push({ path: `${name}/${fileName}`, ...rest });
        }
        await this.#collectPlainFiles(tmp, name, "", ctx.names(), files, dirs);
      }
      // Make every file and directory durable before the manifest exists; concurrent fsyncs
      // share journal commits, which matters for snapshots of many small files.
      await Promise.all([
        ...files.map((f) => io(f.path, "fsync", this.dir, syncFile(join(tmp, f.path)))),
        ...dirs.map((d) => io(d.slice(tmp.length + 1), "fsync", this.dir, syncDir(d))),
      ]);
      files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        version: MANIFEST_VERSION,
        sequence: seq,
        createdAt: new Date(this.#clock()).toISOString(),
        littleEndian: HOST_LITTLE_ENDIAN,
        checksum: this.#checksum,
        components: entries.map(([name]) => name),
        files,
      };
      if (metaText !== undefined) manifest.meta = JSON.parse(metaText);
      const manifestPath = join(tmp, MANIFEST_NAME);
      const manifestBytes = encodeManifest(manifest);
      await io(
        MANIFEST_NAME,
        "write",
        this.dir,
        writeChecksummed(manifestPath, manifestBytes, "crc32", false),
      );
      // The manifest's content and its directory entry (and those of the component
      // directories) must be durable before the rename publishes the snapshot.
      await Promise.all([
        io(MANIFEST_NAME, "fsync", this.dir, syncFile(manifestPath)),
        io("", "fsync", this.dir, syncDir(tmp)),
      ]);
      const final = join(this.dir, snapshotName(seq));
      throwIfAborted(action, signal);
      if (await exists(final)) {
        throw new SpoolError(action, "a snapshot with this sequence appeared meanwhile", {
          received: final,
        });
      }
      await io("", "rename", this.dir, Deno.rename(tmp, final));
      this.#lastSequence = seq;
      await io("", "fsync the store directory after renaming", this.dir, syncDir(this.dir));
      // Retention runs once the snapshot is published; if it fails, the snapshot stays valid
      // and the error still reaches the caller.
      if (this.#keeper) await this.#prune(this.#keeper);
      return final;
    } catch (error) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** Find, checksum and fsync files a component wrote itself; fsync its directories. */
  async #collectPlainFiles(
    root: string,
    component: string,
    sub: string,
    viaCtx: Set<string>,
    out: ManifestFile[],
    dirs: string[],
  ): Promise<void> {
    const dirPath = join(root, component, sub);
    for await (const entry of Deno.readDir(dirPath)) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        await this.#collectPlainFiles(root, component, rel, viaCtx, out, dirs);
      } else if (entry.isFile) {
        if (!sub && viaCtx.has(entry.name)) continue;
        const path = join(dirPath, entry.name);
        const digest = await readChecksummed(path, this.#checksum);
        out.push({
          path: `${component}/${rel}`,
          size: digest.size,
          checksum: digest.checksum,
          codec: "file",
        });
      } else {
        throw new StateComponentError(
          "save snapshot",
          component,
          new InvalidArgumentError(
            "save snapshot",
            "only regular files and directories may be written",
            { received: rel },
          ),
        );
      }
    }
    dirs.push(dirPath);
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
    let checked: LoadOptions;
    try {
      const o = optionsOf(action, options, LOAD_OPTIONS);
      checked = {
        fallback: optionalBoolean(action, "fallback", o.fallback),
        onCorrupt: optionalFunction<(error: SnapshotCorruptError) => void>(
          action,
          "onCorrupt",
          o.onCorrupt,
        ),
        allowMissing: optionalBoolean(action, "allowMissing", o.allowMissing),
        signal: optionalSignal(action, "signal", o.signal),
      };
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exclusive(action, () => this.#load(target, checked));
  }

  async #load(target: string | number, options: LoadOptions): Promise<string | undefined> {
    const action = "load snapshot";
    if (target === "latest") {
      // A store without the lock may read beside a writer whose retention removes snapshots
      // while we list or read them (and readdir may miss entries renamed meanwhile): list again
      // a few times before concluding there is nothing. The writer publishes a new snapshot
      // before removing an old one, so a fresh listing finds it.
      const attempts = this.#lock ? 1 : 4;
      for (let attempt = 0; attempt < attempts; attempt++) {
        let vanished = false;
        const candidates = (await this.#snapshotDirs()).reverse();
        for (const c of candidates) {
          let prepared: Prepared;
          try {
            prepared = await this.#prepare(c.path, true, options);
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
          await this.#apply(prepared, options.signal);
          return c.path;
        }
        if (!vanished && candidates.length > 0) break;
      }
      return undefined;
    }
    const path = await this.#resolve(action, target);
    const prepared = await this.#prepare(path, true, options);
    await this.#apply(prepared, options.signal);
    return path;
  }

  /**
   * Verify every file of a snapshot (sizes, checksums, manifest) without loading it; return its
   * info or throw {@linkcode SnapshotCorruptError} / {@linkcode SnapshotNotFoundError}.
   */
  verify(target: string | number): Promise<SnapshotInfo> {
    return this.#exclusive("verify snapshot", async () => {
      const path = await this.#resolve("verify snapshot", target);
      const prepared = await this.#prepare(path, false, { allowMissing: true });
      return infoOf(path, prepared.manifest);
    });
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
    return this.#list();
  }

  /** The newest complete snapshot's info (not verified), or `undefined`. */
  async latest(): Promise<SnapshotInfo | undefined> {
    return (await this.list()).at(-1);
  }

  async #list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const c of await this.#snapshotDirs()) {
      try {
        const manifest = await this.#readManifest(c.path);
        if (manifest.sequence !== c.sequence) continue;
        out.push(infoOf(c.path, manifest));
      } catch (error) {
        if (!(error instanceof SnapshotCorruptError)) throw error;
      }
    }
    return out;
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
    const infos = await this.#list();
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
      const trash = join(this.dir, `${TRASH_PREFIX}${info.sequence}-${randomSuffix()}`);
      try {
        await Deno.rename(info.path, trash);
      } catch (error) {
        if (isNotFound(error)) continue;
        throw error;
      }
      await Deno.remove(trash, { recursive: true });
      removed.push(info.path);
    }
    // No directory fsync here: if a deletion is lost in a power failure the old snapshot
    // reappears complete (it was renamed away whole) and the next prune removes it again.
    return removed;
  }

  /** Release the lock. Waits for a save or load in progress. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#assertNotReentrant("close the state store");
    this.#closed = true;
    await this.#queue.catch(() => {});
    this.#lock?.release();
  }

  /** Same as {@linkcode StateStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- internals ----

  #assertOpen(action: string): void {
    if (this.#closed) throw new ClosedError(action, "the store is closed", { received: this.dir });
  }

  /** Run `fn` after every operation queued before it; refuse at once when closed. */
  /** A component calling save/load/prune/verify/close from its own callback would deadlock. */
  #assertNotReentrant(action: string): void {
    if (inCallback.getStore() === this) {
      throw new InvalidArgumentError(
        action,
        "called from a component's saveState/loadState of the same store (it would wait for itself)",
        { received: this.dir },
      );
    }
  }

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

  /** The store directory with symbolic links and relative parts resolved (cached). */
  async #realDir(): Promise<string> {
    return this.#real ??= await Deno.realPath(this.dir);
  }

  async #snapshotDirs(): Promise<{ path: string; sequence: number }[]> {
    const out: { path: string; sequence: number }[] = [];
    for await (const entry of Deno.readDir(this.dir)) {
      const seq = parseSnapshotName(entry.name);
      if (seq === undefined || !entry.isDirectory) continue;
      out.push({ path: join(this.dir, entry.name), sequence: seq });
    }
    return out.sort((a, b) => a.sequence - b.sequence);
  }

  async #maxSequence(): Promise<number> {
    let max = 0;
    for await (const entry of Deno.readDir(this.dir)) {
      const seq = parseSnapshotName(entry.name);
      if (seq !== undefined && seq > max) max = seq;
    }
    return max;
  }

  async #resolve(action: string, target: string | number): Promise<string> {
    let path: string;
    if (typeof target === "number") {
      if (!Number.isSafeInteger(target) || target < 0) {
        throw new InvalidArgumentError(action, "a sequence must be an integer >= 0", {
          received: target,
        });
      }
      path = join(this.dir, snapshotName(target));
    } else if (typeof target === "string" && /[\\/]/.test(target)) {
      // A path: it must name a directory of THIS store (a snapshot of another store, or any
      // other directory, is refused as such, never reported as a corrupt snapshot).
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
          `the path is outside this store (${this.dir}); pass a snapshot path of this store, a ` +
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
      path = join(this.dir, name);
    } else if (typeof target === "string" && parseSnapshotName(target) !== undefined) {
      path = join(this.dir, target); // a bare snapshot name is always one of this store
    } else {
      throw new InvalidArgumentError(
        action,
        "target must be a snapshot path of this store, a snapshot directory name, a sequence " +
          'number or "latest"',
        { received: target },
      );
    }
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

  async #readManifest(path: string): Promise<Manifest> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(join(path, MANIFEST_NAME));
    } catch (error) {
      if (isNotFound(error)) {
        throw new SnapshotCorruptError(path, MANIFEST_NAME, "the manifest is missing", {
          cause: error,
        });
      }
      throw error;
    }
    return decodeManifest(path, bytes);
  }

  /**
   * {@linkcode StateStore.#verifyFiles}, except that damage found in a snapshot directory that
   * has meanwhile disappeared (pruned by the writer while a read-only store reads it) is a
   * {@linkcode SnapshotNotFoundError}, not corruption.
   */
  async #prepare(path: string, keep: boolean, options: LoadOptions): Promise<Prepared> {
    try {
      return await this.#verifyFiles(path, keep, options);
    } catch (error) {
      if (error instanceof SnapshotCorruptError && !(await exists(path))) {
        throw new SnapshotNotFoundError(
          "load snapshot",
          "the snapshot was removed while being read",
          { received: path, cause: error },
        );
      }
      throw error;
    }
  }

  /** Verify every file of snapshot `path`; keep the content of context-written files. */
  async #verifyFiles(path: string, keep: boolean, options: LoadOptions): Promise<Prepared> {
    const manifest = await this.#readManifest(path);
    const nameSeq = parseSnapshotName(path.split(/[\\/]/).pop() ?? "");
    if (nameSeq !== undefined && nameSeq !== manifest.sequence) {
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
      const missing = this.names.filter((n) => !manifest.components.includes(n));
      if (missing.length) {
        throw new StateMismatchError(
          "load snapshot",
          `registered components ${JSON.stringify(missing)} are not in the snapshot ` +
            `(pass allowMissing: true to load the others)`,
          { received: path },
        );
      }
    }
    const byComponent = new Map<string, Map<string, VerifiedFile>>();
    for (const c of manifest.components) byComponent.set(c, new Map());
    for (const entry of manifest.files) {
      throwIfAborted("load snapshot", options.signal);
      const diskPath = join(path, entry.path);
      const component = entry.path.slice(0, entry.path.indexOf("/"));
      const wanted = this.#states.has(component);
      let digest;
      try {
        const st = await Deno.stat(diskPath);
        if (!st.isFile) throw new SnapshotCorruptError(path, entry.path, "not a regular file");
        if (st.size !== entry.size) {
          throw new SnapshotCorruptError(
            path,
            entry.path,
            `size ${st.size} does not match the manifest's ${entry.size}`,
          );
        }
        digest = await readChecksummed(
          diskPath,
          manifest.checksum,
          keep && wanted && entry.codec !== "file" ? entry.size : undefined,
        );
      } catch (error) {
        if (error instanceof SnapshotCorruptError) throw error;
        if (isNotFound(error)) {
          throw new SnapshotCorruptError(path, entry.path, "the file is missing", {
            cause: error,
          });
        }
        throw error;
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
      byComponent.get(component)!.set(entry.path.slice(component.length + 1), {
        entry,
        diskPath,
        bytes: digest.bytes,
      });
    }
    return { path, manifest, byComponent };
  }

  async #apply(prepared: Prepared, signal?: AbortSignal): Promise<void> {
    throwIfAborted("load snapshot", signal);
    for (const [name, obj] of [...this.#states]) {
      const files = prepared.byComponent.get(name);
      if (!files) continue; // allowMissing
      const ctx = new LoadContextImpl(name, files);
      try {
        await inCallback.run(this, async () => await obj.loadState(join(prepared.path, name), ctx));
      } catch (error) {
        throw new StateComponentError("load snapshot", name, error);
      }
    }
  }
}

function infoOf(path: string, manifest: Manifest): SnapshotInfo {
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

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}
