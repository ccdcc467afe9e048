/**
 * The loop's checkpoint file format: `loop.json` (format, version, position, the encoded
 * states, one record per buffer site) plus the arrays and frames it points to, written into and
 * read from one `StateStore` snapshot component.
 *
 * @module
 */

import type { FrameAdapter } from "../frame/adapter.ts";
import { frameAdapter } from "../frame/adapter.ts";
import type { FrameReader, FrameWriter } from "../frame/codec.ts";
import type { Frame, NumericColumn } from "../frame/frame.ts";
import { type ArraySink, decodeValue } from "../frame/values.ts";
import { type LoadContext, type SaveContext, StateComponentError } from "../state/mod.ts";
import { FrameError } from "../frame/errors.ts";
import { frameSignature, SiteBuffer } from "./buffers.ts";
import { LoopCheckpointError, LoopMisuseError, LoopStateError } from "./errors.ts";
import { recordProblems } from "./record.ts";
import type { StoredState } from "./states.ts";

/** The `format` field of every loop record. */
export const FORMAT = "spool.loop";
/** The record version this spool writes and reads. */
export const VERSION = 1;
/** The loop's component name in the store. */
export const COMPONENT = "loop";

/** A state as written in `loop.json`: its binding kind and its encoded value. */
export interface EncodedState {
  /** How it was bound. */
  kind: string;
  /** The encoded value (typed arrays are referenced by file name). */
  value: unknown;
}

/** A buffer site as written in `loop.json`. */
export interface SiteRecord {
  /** The site's name. */
  name: string;
  /** The name of the adapter of its frames. */
  adapter: string;
  /** Bytes it holds. */
  bytes: number;
  /** The sequence number of its next flush. */
  seq: number;
  /** Its keys, `null` before its first call. */
  keys: string[] | null;
  /** Frames held per key (0 or 1 after compaction). */
  counts: number[];
}

/** The content of `loop.json`. */
export interface LoopFile {
  /** Always {@linkcode FORMAT}. */
  format: string;
  /** Always {@linkcode VERSION}. */
  version: number;
  /** Items completed. */
  position: number;
  /** State name -> its encoded value. */
  states: Record<string, EncodedState>;
  /** The buffer sites, in order. */
  sites: SiteRecord[];
}

/** What a loaded checkpoint gives the loop. */
export interface LoadedLoop {
  /** Items completed. */
  position: number;
  /** The decoded states, applied when bound. */
  restored: Map<string, StoredState>;
  /** The buffer sites with their frames and sequence numbers. */
  sites: Map<string, SiteBuffer>;
}

function prefixedWriter(ctx: SaveContext, prefix: string): FrameWriter {
  return {
    writeJson: (n, v) => ctx.writeJson(prefix + n, v),
    writeBytes: (n, b) => ctx.writeBytes(prefix + n, b),
    writeArray: (n, a) => ctx.writeArray(prefix + n, a),
  };
}

function prefixedReader(ctx: LoadContext, prefix: string): FrameReader {
  return {
    has: (n) => ctx.has(prefix + n),
    readJson: <T>(n: string) => ctx.readJson<T>(prefix + n),
    readBytes: (n) => ctx.readBytes(prefix + n),
    readArray: (n) => ctx.readArray(prefix + n) as NumericColumn,
  };
}

/** The record of site number `i`; its frames are written (the writes pushed to `writes`). */
function saveSite(
  ctx: SaveContext,
  site: SiteBuffer,
  i: number,
  writes: Promise<void>[],
): SiteRecord {
  const counts: number[] = [];
  if (site.holds) {
    if (!site.adapter.save || !site.adapter.load) {
      throw new LoopMisuseError(
        "checkpoint a buffer",
        `site "${site.name}" holds frames of adapter "${site.adapter.name}", which has no save/load`,
        { received: site.adapter.name },
      );
    }
    site.compact();
  }
  let j = 0;
  for (const list of site.lists.values()) {
    counts.push(list.length);
    if (list.length === 1) {
      const w = site.adapter.save?.(list[0], prefixedWriter(ctx, `s${i}.k${j}.`));
      if (w) writes.push(w);
    }
    j++;
  }
  return {
    name: site.name,
    adapter: site.adapter.name,
    bytes: site.bytes,
    seq: site.seq,
    keys: site.keys ?? null,
    counts,
  };
}

/**
 * Write the loop's part of a snapshot: the arrays of the states (encoded by `encodeStates`),
 * the frames each site holds (compacted to one per key), then `loop.json`.
 */
export async function saveLoopFile(
  ctx: SaveContext,
  position: number,
  encodeStates: (arrays: ArraySink) => Record<string, EncodedState>,
  sites: Iterable<SiteBuffer>,
): Promise<void> {
  let n = 0;
  const arrays = (a: NumericColumn) => {
    const f = `a${n++}`;
    void ctx.writeArray(f, a);
    return f;
  };
  const states = encodeStates(arrays);
  const records: SiteRecord[] = [];
  const writes: Promise<void>[] = [];
  for (const site of sites) records.push(saveSite(ctx, site, records.length, writes));
  const file: LoopFile = { format: FORMAT, version: VERSION, position, states, sites: records };
  await Promise.all(writes);
  await ctx.writeJson("loop.json", file);
}

/** `loop.json` checked: an object of this format and version whose fields are well typed. */
function readRecord(ctx: LoadContext, action: string, path: string): LoopFile {
  if (!ctx.has("loop.json")) {
    throw new LoopCheckpointError(action, "the snapshot has no loop.json", { received: path });
  }
  const raw = ctx.readJson<unknown>("loop.json");
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new LoopCheckpointError(action, "loop.json is not an object", { received: raw });
  }
  const bag = raw as Record<string, unknown>;
  if (bag.format !== FORMAT) {
    throw new LoopCheckpointError(
      action,
      bag.format === undefined
        ? `field "format" is missing: the checkpoint is not a ${FORMAT} checkpoint`
        : `field "format" is not "${FORMAT}": the checkpoint is not a ${FORMAT} checkpoint`,
      { received: bag.format },
    );
  }
  if (bag.version !== VERSION) {
    throw new LoopCheckpointError(
      action,
      `the checkpoint has format version ${bag.version}; this spool reads version ${VERSION}`,
      { received: bag.version },
    );
  }
  const problems = recordProblems(bag);
  if (problems.length > 0) {
    throw new LoopCheckpointError(
      action,
      problems.length === 1 ? problems[0]! : `${problems.length} problems: ${problems.join("; ")}`,
      { received: path },
    );
  }
  return bag as unknown as LoopFile;
}

function loadStates(
  ctx: LoadContext,
  file: LoopFile,
  action: string,
  path: string,
): Map<string, StoredState> {
  const arrays = (f: string) => ctx.readArray(f) as NumericColumn;
  const restored = new Map<string, StoredState>();
  for (const [name, s] of Object.entries(file.states)) {
    let value: unknown;
    try {
      value = decodeValue(s.value, arrays);
    } catch (error) {
      throw new LoopCheckpointError(
        action,
        `field "states.${name}.value" cannot be decoded (${
          error instanceof Error ? error.message : String(error)
        })`,
        { received: path, cause: error },
      );
    }
    restored.set(name, { kind: s.kind as StoredState["kind"], value });
  }
  return restored;
}

function loadSite(
  ctx: LoadContext,
  record: SiteRecord,
  i: number,
  adapters: ReadonlyMap<string, FrameAdapter<unknown>>,
  action: string,
): SiteBuffer {
  const adapter = adapters.get(record.adapter);
  if (adapter === undefined && record.counts.some((c) => c > 0)) {
    throw new LoopCheckpointError(
      action,
      `site "${record.name}" holds frames of adapter "${record.adapter}"; pass that adapter in options.adapters`,
      { received: record.adapter },
    );
  }
  const site = new SiteBuffer(
    record.name,
    adapter ?? { name: record.adapter } as FrameAdapter<unknown>,
  );
  site.seq = record.seq;
  if (record.keys) {
    site.keys = record.keys;
    record.keys.forEach((k, j) => {
      const list: unknown[] = [];
      if (record.counts[j]) {
        const f = (adapter as FrameAdapter<unknown>).load?.(prefixedReader(ctx, `s${i}.k${j}.`));
        list.push(f);
        if (record.adapter === frameAdapter.name) {
          site.signatures.set(k, frameSignature(f as Frame));
        }
      }
      site.lists.set(k, list);
      site.count += list.length;
    });
  }
  site.bytes = record.bytes;
  return site;
}

/**
 * Read the loop's part of a snapshot.
 *
 * @throws {LoopCheckpointError} for a missing or damaged record (every bad field named), another
 * format or version, a state that cannot be decoded, or frames of an adapter not in `adapters`
 */
export function loadLoopFile(
  ctx: LoadContext,
  path: string,
  adapters: ReadonlyMap<string, FrameAdapter<unknown>>,
): LoadedLoop {
  const action = "load a StatefulLoop checkpoint";
  const file = readRecord(ctx, action, path);
  const restored = loadStates(ctx, file, action, path);
  const sites = new Map<string, SiteBuffer>();
  file.sites.forEach((r, i) => sites.set(r.name, loadSite(ctx, r, i, adapters, action)));
  return { position: file.position, restored, sites };
}

/** The loop's own typed error when the store wrapped it in a `StateComponentError`. */
export function loopErrorOf(error: unknown): unknown {
  const cause = error instanceof StateComponentError ? error.cause : undefined;
  return cause instanceof LoopCheckpointError || cause instanceof LoopMisuseError ||
      cause instanceof LoopStateError || cause instanceof FrameError
    ? cause
    : error;
}
