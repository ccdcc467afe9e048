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
import { isValidName } from "./names.ts";
import { isRecord } from "../_internal/options.ts";

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
  if (!isRecord(raw)) return bad("the manifest is not a JSON object");
  const obj = raw;
  if (obj.format !== MANIFEST_FORMAT) return bad("the manifest has an unknown format");
  const { manifestChecksum, ...rest } = obj;
  if (typeof manifestChecksum !== "string") return bad("the manifest has no manifestChecksum");
  const expected = checksumOf("crc32", new TextEncoder().encode(JSON.stringify(rest)));
  if (expected !== manifestChecksum) return bad("the manifest's own checksum does not match");
  if (obj.version !== MANIFEST_VERSION) {
    return bad(`unsupported manifest version ${String(obj.version)} (this spool reads 1)`);
  }
  const m = rest as unknown as Manifest;
  const problems = manifestProblems(rest);
  if (problems.length === 1) return bad(problems[0]!);
  if (problems.length > 1) return bad(`${problems.length} problems: ${problems.join("; ")}`);
  return m;
}

function shown(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 40 ? s.slice(0, 37) + "..." : s;
  } catch {
    return String(v);
  }
}

/** A field check: records a problem in `out` and returns whether the field is present and ok. */
type FieldCheck = (name: string, ok: (v: unknown) => boolean, must: string) => boolean;

/** A {@linkcode FieldCheck} of the fields of `bag`, named `<at>.<name>` (or `<name>`). */
function fieldChecker(bag: Record<string, unknown>, at: string, out: string[]): FieldCheck {
  const prefix = at ? `${at}.` : "";
  return (name, ok, must) => {
    const v = bag[name];
    if (v === undefined) out.push(`field "${prefix}${name}" is missing`);
    else if (!ok(v)) out.push(`field "${prefix}${name}" ${must}, found ${shown(v)}`);
    return v !== undefined && ok(v);
  };
}

const isSize = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

/** Every problem of a manifest's shape (after its format, checksum and version were checked). */
function manifestProblems(m: Record<string, unknown>): string[] {
  const out: string[] = [];
  const field = fieldChecker(m, "", out);
  field("sequence", isSize, "must be an integer >= 0");
  field(
    "createdAt",
    (v) => typeof v === "string" && !Number.isNaN(Date.parse(v)),
    "must be an ISO time",
  );
  field("littleEndian", (v) => typeof v === "boolean", "must be a boolean");
  field("checksum", isChecksumAlgorithm, 'must be one of "crc32", "sha256"');
  const components = new Set<string>();
  if (field("components", Array.isArray, "must be an array")) {
    (m.components as unknown[]).forEach((c, i) => {
      if (!isValidName(c)) {
        out.push(`field "components[${i}]" is not a valid component name, found ${shown(c)}`);
      } else if (components.has(c)) {
        out.push(`field "components[${i}]" is a duplicate, found ${shown(c)}`);
      } else components.add(c);
    });
  }
  if (!field("files", Array.isArray, "must be an array")) return out;
  const seen = new Set<string>();
  (m.files as unknown[]).forEach((f, i) => {
    const at = `files[${i}]`;
    if (!isRecord(f)) {
      out.push(`field "${at}" must be an object, found ${shown(f)}`);
      return;
    }
    fileProblems(f, at, components, seen, out);
  });
  return out;
}

/** The problems of one file entry `file` (at `files[i]`); `seen` collects the paths so far. */
function fileProblems(
  file: Record<string, unknown>,
  at: string,
  components: ReadonlySet<string>,
  seen: Set<string>,
  out: string[],
): void {
  const need = fieldChecker(file, at, out);
  if (need("path", (v) => typeof v === "string", "must be a string")) {
    const path = file.path as string;
    const segments = path.split("/");
    if (
      segments.length < 2 ||
      !segments.every((s) => SEGMENT.test(s) && s !== "." && s !== "..") ||
      !components.has(segments[0]!)
    ) {
      out.push(
        `field "${at}.path" is an invalid file path (<listed component>/<name>, no "." or ".."), ` +
          `found ${shown(path)}`,
      );
    } else if (seen.has(path)) {
      out.push(`field "${at}.path" is a duplicate, found ${shown(path)}`);
    }
    seen.add(path);
  }
  const sized = need("size", isSize, "must be an integer >= 0");
  need(
    "checksum",
    (v) => typeof v === "string" && /^[0-9a-f]+$/.test(v),
    "must be a lowercase hex string",
  );
  if (
    !need(
      "codec",
      (v) => CODECS.has(v as string),
      'must be one of "json", "bytes", "array", "file"',
    )
  ) {
    return;
  }
  if (file.codec === "array") {
    const size = typeof file.dtype === "string" ? dtypeSize(file.dtype) : undefined;
    need("dtype", () => size !== undefined, "must be a known dtype");
    if (
      need("length", isSize, "must be an integer >= 0") &&
      size !== undefined && sized && (file.length as number) * size !== file.size
    ) {
      out.push(
        `field "${at}.length": dtype, length and size disagree (${shown(file.length)} ` +
          `${file.dtype} elements, size ${shown(file.size)})`,
      );
    }
    return;
  }
  for (const extra of ["dtype", "length"]) {
    if (file[extra] !== undefined) {
      out.push(
        `field "${at}.${extra}" is only allowed for codec "array", found ${shown(file[extra])}`,
      );
    }
  }
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
