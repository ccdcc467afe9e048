/**
 * The single-writer lock of a `NatsStorage`: the key `lock` of the store's KV bucket. It is
 * created if absent (two writers racing for it: one `create` wins), records its holder and an
 * expiry, and is refreshed by its holder every third of its lifetime with a revision check. A
 * lock past its expiry belongs to a writer that died (or lost its connection) and is taken over,
 * also with a revision check; the previous holder is then reported as stale. Before publishing a
 * snapshot the holder confirms the lock (one revision-checked update): a writer whose lock was
 * taken over cannot publish.
 *
 * @module
 */

import { type LockHolder, StoreLockedError } from "./errors.ts";
import type { KV } from "./nats_storage_client.ts";
import type { StorageLock } from "./storage.ts";

const LOCK_KEY = "lock";

/** The recorded holder: who, since when, until when (ms since the epoch) without refresh. */
type Recorded = LockHolder & { expires: number };

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

function holderBytes(since: string, ttl: number): Uint8Array {
  const holder: Recorded = {
    pid: Deno.pid,
    hostname: hostname(),
    since,
    expires: Date.now() + ttl,
  };
  return new TextEncoder().encode(JSON.stringify(holder));
}

function parseHolder(bytes: Uint8Array | undefined): Recorded | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof v?.pid === "number" && typeof v?.expires === "number") return v;
  } catch {
    // unreadable content: unknown holder
  }
  return undefined;
}

/** A held lock: its revision is checked by every refresh, the confirmation and the release. */
export class KvLock implements StorageLock {
  readonly staleHolder: LockHolder | undefined;
  readonly #kv: KV;
  readonly #ttl: number;
  readonly #since = new Date().toISOString();
  readonly #where: string;
  readonly #timer: number;
  #revision: number;
  #released = false;
  #lost = false;
  #refreshing: Promise<void> = Promise.resolve();

  /**
   * Hold the lock written at `revision`, refreshing it every `ttl / 3` ms.
   *
   * @param kv the store's KV bucket
   * @param where the store's location (error messages)
   * @param revision the revision of our lock entry
   * @param ttl the lifetime without refresh, in ms
   * @param stale the holder we took the lock over from, if any
   */
  constructor(
    kv: KV,
    where: string,
    revision: number,
    ttl: number,
    stale: LockHolder | undefined,
  ) {
    this.#kv = kv;
    this.#where = where;
    this.#revision = revision;
    this.#ttl = ttl;
    this.staleHolder = stale;
    this.#timer = setInterval(() => {
      this.#refreshing = this.#refreshing.then(() => this.#refresh());
    }, Math.max(1, Math.floor(ttl / 3))) as unknown as number;
    Deno.unrefTimer(this.#timer);
  }

  /** The entry this holder writes (same holder, new expiry). */
  #bytes(): Uint8Array {
    return holderBytes(this.#since, this.#ttl);
  }

  async #refresh(): Promise<void> {
    if (this.#released || this.#lost) return;
    try {
      this.#revision = await this.#kv.update(LOCK_KEY, this.#bytes(), this.#revision);
    } catch {
      this.#lost = true; // taken over after an expiry (or the connection is gone)
    }
  }

  /** Throw {@linkcode StoreLockedError} unless the lock is still ours (it is refreshed too). */
  async confirm(): Promise<void> {
    const run = this.#refreshing.then(() => this.#refresh());
    this.#refreshing = run;
    await run;
    if (this.#lost) {
      const entry = await this.#kv.get(LOCK_KEY).catch(() => null);
      throw new StoreLockedError(this.#where, parseHolder(entry?.value));
    }
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    await this.#refreshing;
    if (this.#lost) return;
    try {
      await this.#kv.delete(LOCK_KEY, { previousSeq: this.#revision });
    } catch {
      // Taken over meanwhile, or the connection is gone: nothing of ours to release.
    }
  }
}

/**
 * Take the lock of the store whose KV bucket is `kv`, or throw {@linkcode StoreLockedError}
 * naming the live holder.
 *
 * @param kv the store's KV bucket
 * @param where the store's location (error messages)
 * @param ttl the lifetime of the lock without refresh, in ms
 */
export async function acquireKvLock(kv: KV, where: string, ttl: number): Promise<KvLock> {
  const since = new Date().toISOString();
  try {
    const revision = await kv.create(LOCK_KEY, holderBytes(since, ttl));
    return new KvLock(kv, where, revision, ttl, undefined);
  } catch (error) {
    const entry = await kv.get(LOCK_KEY);
    if (!entry || entry.operation !== "PUT") throw error; // released meanwhile: retry later
    const holder = parseHolder(entry.value);
    if (holder && holder.expires > Date.now()) throw new StoreLockedError(where, holder);
    // Expired (or unreadable): take it over, unless someone else just did.
    let revision: number;
    try {
      revision = await kv.update(LOCK_KEY, holderBytes(since, ttl), entry.revision);
    } catch {
      throw new StoreLockedError(where, holder);
    }
    const stale = holder
      ? { pid: holder.pid, hostname: holder.hostname, since: holder.since }
      : { pid: -1, hostname: "?", since: "?" };
    return new KvLock(kv, where, revision, ttl, stale);
  }
}
