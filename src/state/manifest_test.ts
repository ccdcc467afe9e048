/** The manifest's whole shape is validated on load; every bad field is named. */

import assert from "node:assert/strict";
import { SnapshotCorruptError } from "./errors.ts";
import { decodeManifest, encodeManifest, type Manifest } from "./manifest.ts";

function good(): Record<string, unknown> {
  return {
    format: "spool-state-snapshot",
    version: 1,
    sequence: 3,
    createdAt: new Date(0).toISOString(),
    littleEndian: true,
    checksum: "crc32",
    components: ["a", "b"],
    files: [
      { path: "a/value.json", size: 1, checksum: "0a1b", codec: "json" },
      { path: "b/w.bin", size: 16, checksum: "ff", codec: "array", dtype: "float64", length: 2 },
    ],
  };
}

/** Decode `m` (self-checksum recomputed, so only the shape can be wrong). */
function decode(m: Record<string, unknown>): Manifest {
  return decodeManifest("/snap", encodeManifest(m as unknown as Manifest));
}

function corrupt(...patterns: RegExp[]) {
  return (e: unknown) =>
    e instanceof SnapshotCorruptError && e.file === "manifest.json" &&
    patterns.every((p) => p.test(e.message));
}

Deno.test("manifest: a valid manifest decodes", () => {
  const m = decode(good());
  assert.equal(m.sequence, 3);
  assert.equal(m.files.length, 2);
});

Deno.test("manifest: each missing or mistyped field is named", () => {
  const cases: [string, unknown, RegExp][] = [
    ["sequence", undefined, /"sequence" is missing/],
    ["sequence", -1, /"sequence" must be an integer >= 0/],
    ["createdAt", 5, /"createdAt" must be an ISO time/],
    ["littleEndian", "yes", /"littleEndian" must be a boolean/],
    ["checksum", "md5", /"checksum" must be one of/],
    ["components", "a", /"components" must be an array/],
    ["components", ["a", "a"], /"components\[1\]" is a duplicate/],
    ["components", ["a", "../x"], /"components\[1\]" is not a valid component name/],
    ["files", {}, /"files" must be an array/],
  ];
  for (const [field, value, pattern] of cases) {
    const m = good();
    if (value === undefined) delete m[field];
    else m[field] = value;
    assert.throws(() => decode(m), corrupt(pattern), `${field}=${JSON.stringify(value)}`);
  }
});

Deno.test("manifest: file entries are checked field by field", () => {
  const entry = (patch: Record<string, unknown>, drop?: string) => {
    const m = good();
    const files = m.files as Record<string, unknown>[];
    files[1] = { ...files[1], ...patch };
    if (drop) delete files[1]![drop];
    return m;
  };
  assert.throws(() => decode(entry({}, "size")), corrupt(/"files\[1\]\.size" is missing/));
  assert.throws(() => decode(entry({ size: "16" })), corrupt(/"files\[1\]\.size" must be/));
  assert.throws(() => decode(entry({}, "checksum")), corrupt(/"files\[1\]\.checksum"/));
  assert.throws(() => decode(entry({ codec: "zip" })), corrupt(/"files\[1\]\.codec" must be/));
  assert.throws(() => decode(entry({ dtype: "float128" })), corrupt(/"files\[1\]\.dtype"/));
  assert.throws(() => decode(entry({ length: 3 })), corrupt(/"files\[1\]\.length"/));
  assert.throws(() => decode(entry({}, "path")), corrupt(/"files\[1\]\.path" is missing/));
  assert.throws(() => decode(entry({ path: "c/w.bin" })), corrupt(/"files\[1\]\.path"/));
  const m = good();
  (m.files as unknown[])[0] = 7;
  assert.throws(() => decode(m), corrupt(/"files\[0\]" must be an object/));
  // dtype/length on a non-array file is refused too (a damaged codec field)
  const j = good();
  (j.files as Record<string, unknown>[])[0]!.dtype = "float64";
  assert.throws(() => decode(j), corrupt(/"files\[0\]\.dtype" is only allowed/));
});

Deno.test("manifest: several problems are all reported at once", () => {
  const m = good();
  m.sequence = "3";
  m.littleEndian = null;
  delete (m.files as Record<string, unknown>[])[0]!.size;
  assert.throws(
    () => decode(m),
    corrupt(/3 problems/, /"sequence"/, /"littleEndian"/, /"files\[0\]\.size"/),
  );
});
