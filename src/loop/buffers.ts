/**
 * Per-site frame buffers of a loop: frames accumulate per key, bytes are counted with the
 * site's adapter, a flush concatenates each key's frames and bumps the site's sequence number.
 *
 * @module
 */

import type { FrameAdapter } from "../frame/adapter.ts";
import { columnKind, Frame } from "../frame/frame.ts";
import { LoopMisuseError } from "./errors.ts";

/**
 * What `loop.buffer()` returns when a site flushes: the concatenated frames per key, and the
 * site's flush sequence number (0, 1, 2, ... per site, stable across crashes and resumes, so a
 * sink that writes flush `seq` to a name derived from it is idempotent).
 */
export interface Flush<K extends string = string, F = Frame> {
  /** The buffer site. */
  readonly site: string;
  /** The flush sequence number of this site (starts at 0). */
  readonly seq: number;
  /** The concatenated frames, one per key. */
  readonly frames: { readonly [P in K]: F };
  /** Bytes flushed (the site's counter when it flushed). */
  readonly bytes: number;
  /** `true` when this flush happens in the end-of-source pass. */
  readonly final: boolean;
}

/** Counters of a buffer site (see `StatefulLoop.sites`). */
export interface SiteInfo {
  /** The site name. */
  readonly site: string;
  /** Adapter name (`"frame"`, `"arrow"`, ...). */
  readonly adapter: string;
  /** Bytes held now. */
  readonly bytes: number;
  /** Frames held now (all keys). */
  readonly frames: number;
  /** Number of flushes so far (the next flush has this sequence number). */
  readonly seq: number;
}

/** Column names and kinds of a frame, order-insensitive (frames of one key must agree). */
export function frameSignature(f: Frame): string {
  return Object.entries(f.columns).map(([n, c]) => `${n}:${columnKind(c)}`).sort().join(",");
}

/** One buffer site. */
export class SiteBuffer {
  readonly name: string;
  adapter: FrameAdapter<unknown>;
  keys: string[] | undefined;
  readonly lists = new Map<string, unknown[]>();
  readonly signatures = new Map<string, string>();
  bytes = 0;
  seq = 0;
  count = 0;

  constructor(name: string, adapter: FrameAdapter<unknown>) {
    this.name = name;
    this.adapter = adapter;
  }

  get holds(): boolean {
    return this.count > 0;
  }

  info(): SiteInfo {
    return {
      site: this.name,
      adapter: this.adapter.name,
      bytes: this.bytes,
      frames: this.count,
      seq: this.seq,
    };
  }

  /** Validate then append `data` (all keys of the site, in any order). */
  add(data: Record<string, unknown>): void {
    const action = "buffer frames";
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new LoopMisuseError(
        action,
        `data for site "${this.name}" must be a record of frames`,
        { received: data },
      );
    }
    const keys = Object.keys(data);
    if (this.keys === undefined) {
      this.keys = keys.slice();
      for (const k of keys) this.lists.set(k, []);
    } else if (keys.length !== this.keys.length || !keys.every((k) => this.lists.has(k))) {
      throw new LoopMisuseError(
        action,
        `site "${this.name}" takes the keys [${this.keys.join(", ")}] every time`,
        { received: keys },
      );
    }
    const adapter = this.adapter;
    const isFrame = adapter.name === "frame";
    let added = 0;
    for (const k of keys) {
      const f = data[k];
      if (adapter.accepts && !adapter.accepts(f)) {
        throw new LoopMisuseError(
          action,
          `site "${this.name}" key "${k}" is not a frame of adapter "${adapter.name}"` +
            (isFrame ? " (pass options.adapter for other frame types)" : ""),
          { received: f },
        );
      }
      if (isFrame) {
        const sig = frameSignature(f as Frame);
        const known = this.signatures.get(k);
        if (known === undefined) this.signatures.set(k, sig);
        else if (known !== sig) {
          throw new LoopMisuseError(
            action,
            `site "${this.name}" key "${k}" holds frames with columns {${known}}, not {${sig}}`,
            { received: f },
          );
        }
      }
      const n = adapter.byteSize(f);
      if (typeof n !== "number" || !Number.isFinite(n) || n < 0) {
        throw new LoopMisuseError(action, `adapter "${adapter.name}" returned a bad byte size`, {
          received: n,
        });
      }
      added += n;
    }
    for (const k of keys) (this.lists.get(k) as unknown[]).push(data[k]);
    this.bytes += added;
    this.count += keys.length;
  }

  /** Concatenate each key's frames into one (checkpoints write one frame per key). */
  compact(): void {
    for (const [k, list] of this.lists) {
      if (list.length > 1) this.lists.set(k, [this.adapter.concat(list)]);
    }
  }

  /** Take everything held as a {@linkcode Flush} and bump the sequence number. */
  flush(final: boolean): Flush<string, unknown> {
    const frames: Record<string, unknown> = {};
    for (const [k, list] of this.lists) {
      if (list.length === 0) continue;
      frames[k] = list.length === 1 ? list[0] : this.adapter.concat(list);
    }
    const out: Flush<string, unknown> = {
      site: this.name,
      seq: this.seq,
      frames,
      bytes: this.bytes,
      final,
    };
    for (const k of this.lists.keys()) this.lists.set(k, []);
    this.bytes = 0;
    this.count = 0;
    this.seq++;
    return out;
  }
}

/**
 * The buffer site `name` of `sites`, created on first use with `adapter`. A restored site takes
 * the caller's adapter instance of the same name; another adapter is a `LoopMisuseError`.
 */
export function siteFor(
  sites: Map<string, SiteBuffer>,
  name: string,
  adapter: FrameAdapter<unknown>,
): SiteBuffer {
  let site = sites.get(name);
  if (site === undefined) {
    site = new SiteBuffer(name, adapter);
    sites.set(name, site);
  } else if (site.adapter !== adapter) {
    if (site.adapter.name !== adapter.name) {
      throw new LoopMisuseError(
        "buffer frames",
        `site "${name}" holds "${site.adapter.name}" frames`,
        { received: adapter.name },
      );
    }
    site.adapter = adapter; // restored site: the caller's adapter instance of the same name
  }
  return site;
}
