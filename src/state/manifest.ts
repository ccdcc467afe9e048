/**
 * The snapshot manifest: format, encoding and validation.
 *
 * A snapshot directory holds one sub-directory per component and `manifest.json`, written last.
 * The manifest records the format version, the sequence number, the creation time, the host's
 * endianness, the checksum algorithm, the component names and, for every file, its path
 * (relative to the snapshot), exact size, checksum and codec (`json`, `bytes`, `array` with dtype
 * and length, or `file` for plain files a component wrote itself). A `manifestChecksum` over the
 * rest of the manifest catches a damaged manifest that still parses.
 *
 * @module
 */

import { type ChecksumAlgorithm, checksumOf, isChecksumAlgorithm } from "./checksum.ts";
import { type DType, dtypeSize } from "./dtype.ts";
import { SnapshotCorruptError } from "./errors.ts";

/** Value of the manifest's `format` field. */
export const MANIFEST_FORMAT = "spool-state-snapshot";
/** Current manifest version; newer versions are refused on load. */
export const MANIFEST_VERSION = 1;
/** File name of the manifest inside a snapshot directory. */
export const MANIFEST_NAME = "manifest.json";

/** How a file's bytes are to be decoded. */
export type Codec = "json" | "bytes" | "array" | "file";

/** One file of a snapshot, as recorded in the manifest. */
export interface ManifestFile {
  /** Path relative to the snapshot directory: `<component>/<name>`. */
  path: string;
  /** Exact size in bytes. */
  size: number;
  /** Hex checksum with the manifest's algorithm. */
  checksum: string;
  /** How the bytes are decoded. */
  codec: Codec;
  /** Element type, for `array` files. */
  dtype?: DType;
  /** Element count, for `array` files. */
  length?: number;
}

/** The parsed manifest. */
export interface Manifest {
  /** Always {@linkcode MANIFEST_FORMAT}. */
  format: string;
  /** Manifest version. */
  version: number;
  /** Sequence number of the snapshot (also in its directory name). */
  sequence: number;
  /** ISO creation time. */
  createdAt: string;
  /** Endianness of the arrays stored. */
  littleEndian: boolean;
  /** Checksum algorithm of every file. */
  checksum: ChecksumAlgorithm;
  /** Component names, in registration order. */
  components: string[];
  /** Every file, sorted by path. */
  files: ManifestFile[];
  /** Optional caller metadata passed to `save({meta})`. */
  meta?: unknown;
}

const CODECS = new Set(["json", "bytes", "array", "file"]);
const SEGMENT = /^[^/\\\0]+$/;

/** Serialize a manifest with its self-checksum (`manifestChecksum`, crc32 of the rest). */
export function encodeManifest(manifest: Manifest): Uint8Array {
  const body = JSON.stringify(manifest);
  const sum = checksumOf("crc32", new TextEncoder().encode(body));
  const full = body.slice(0, -1) + `,"manifestChecksum":"${sum}"}\n`;
  return new TextEncoder().encode(full);
}

/**
 * Parse and validate a manifest's bytes; throw {@linkcode SnapshotCorruptError} (naming
 * `manifest.json`) on any problem.
 */
export function decodeManifest(snapshot: string, bytes: Uint8Array): Manifest {
  const bad = (reason: string, cause?: unknown): never => {
    throw new SnapshotCorruptError(snapshot, MANIFEST_NAME, reason, cause ? { cause } : undefined);
  };
  let raw: unknown;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    raw = JSON.parse(text);
  } catch (error) {
    return bad("the manifest is not valid JSON", error);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return bad("the manifest is not a JSON object");
  }
  const obj = raw as Record<string, unknown>;
  if (obj.format !== MANIFEST_FORMAT) return bad("the manifest has an unknown format");
  const { manifestChecksum, ...rest } = obj;
  if (typeof manifestChecksum !== "string") return bad("the manifest has no manifestChecksum");
  const expected = checksumOf("crc32", new TextEncoder().encode(JSON.stringify(rest)));
  if (expected !== manifestChecksum) return bad("the manifest's own checksum does not match");
  if (obj.version !== MANIFEST_VERSION) {
    return bad(`unsupported manifest version ${String(obj.version)} (this spool reads 1)`);
  }
  const m = rest as unknown as Manifest;
  if (!Number.isSafeInteger(m.sequence) || m.sequence < 0) return bad("invalid sequence");
  if (typeof m.createdAt !== "string" || Number.isNaN(Date.parse(m.createdAt))) {
    return bad("invalid createdAt");
  }
  if (typeof m.littleEndian !== "boolean") return bad("invalid littleEndian");
  if (!isChecksumAlgorithm(m.checksum)) return bad("unknown checksum algorithm");
  if (!Array.isArray(m.components) || !m.components.every((c) => typeof c === "string")) {
    return bad("invalid components");
  }
  if (!Array.isArray(m.files)) return bad("invalid files");
  const components = new Set(m.components);
  const seen = new Set<string>();
  for (const f of m.files as unknown[]) {
    const file = f as ManifestFile;
    if (file === null || typeof file !== "object" || typeof file.path !== "string") {
      return bad("a file entry has no path");
    }
    const segments = file.path.split("/");
    if (
      segments.length < 2 || !segments.every((s) => SEGMENT.test(s) && s !== "." && s !== "..") ||
      !components.has(segments[0]!)
    ) {
      return bad(`invalid file path ${JSON.stringify(file.path)}`);
    }
    if (seen.has(file.path)) return bad(`duplicate file path ${JSON.stringify(file.path)}`);
    seen.add(file.path);
    if (!Number.isSafeInteger(file.size) || file.size < 0) {
      return bad(`invalid size for ${JSON.stringify(file.path)}`);
    }
    if (typeof file.checksum !== "string" || !/^[0-9a-f]+$/.test(file.checksum)) {
      return bad(`invalid checksum for ${JSON.stringify(file.path)}`);
    }
    if (!CODECS.has(file.codec)) return bad(`unknown codec for ${JSON.stringify(file.path)}`);
    if (file.codec === "array") {
      const size = file.dtype === undefined ? undefined : dtypeSize(file.dtype);
      if (size === undefined) return bad(`unknown dtype for ${JSON.stringify(file.path)}`);
      if (!Number.isSafeInteger(file.length) || file.length! * size !== file.size) {
        return bad(`dtype, length and size disagree for ${JSON.stringify(file.path)}`);
      }
    }
  }
  return m;
}

/** Directory name of the snapshot with sequence `seq`: 12 zero-padded digits + `.snapshot`. */
export function snapshotName(seq: number): string {
  return `${String(seq).padStart(12, "0")}.snapshot`;
}

/** The sequence number encoded in a snapshot directory name, or `undefined` for other names. */
export function parseSnapshotName(name: string): number | undefined {
  const m = /^(\d{12,15})\.snapshot$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
