/**
 * Checksum candidates for snapshot files, in one run (MiB/s over a 64 MiB pseudo-random buffer,
 * best of 3): `npx -y deno@2.9.6 run -A bench/state_checksums.ts`.
 */

import { createHash } from "node:crypto";
import * as zlib from "node:zlib";

const SIZE = 64 * 1024 * 1024;
const buf = new Uint8Array(SIZE);
crypto.getRandomValues(buf.subarray(0, 65536));
for (let o = 65536; o < SIZE; o += 65536) buf.copyWithin(o, 0, 65536);
for (let o = 0; o < SIZE; o += 4099) buf[o] = o & 255;
const CHUNK = 8 * 1024 * 1024;

/** xxhash32-style 4-lane multiply/rotate over Uint32 words (no tail handling: sizing only). */
function xxLike(u8: Uint8Array): number {
  const w = new Uint32Array(u8.buffer, u8.byteOffset, u8.byteLength >>> 2);
  const P1 = 0x9e3779b1, P2 = 0x85ebca77;
  let a = 1, b = 2, c = 3, d = 4;
  const n = w.length & ~3;
  for (let i = 0; i < n; i += 4) {
    a = (a + Math.imul(w[i]!, P2)) | 0;
    a = Math.imul((a << 13) | (a >>> 19), P1);
    b = (b + Math.imul(w[i + 1]!, P2)) | 0;
    b = Math.imul((b << 13) | (b >>> 19), P1);
    c = (c + Math.imul(w[i + 2]!, P2)) | 0;
    c = Math.imul((c << 13) | (c >>> 19), P1);
    d = (d + Math.imul(w[i + 3]!, P2)) | 0;
    d = Math.imul((d << 13) | (d >>> 19), P1);
  }
  return (a ^ b ^ c ^ d) >>> 0;
}

let TABLE: Uint32Array | undefined;
function jsCrc32(data: Uint8Array): number {
  if (!TABLE) {
    TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      TABLE[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const zcrc = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

const candidates: [string, string, () => unknown | Promise<unknown>][] = [
  ["node:zlib crc32 (chosen)", "CRC: all bursts <= 32 bits", () => {
    let v = 0;
    for (let o = 0; o < SIZE; o += CHUNK) v = zcrc!(buf.subarray(o, o + CHUNK), v);
    return v;
  }],
  ["JS crc32 (table, fallback)", "CRC: all bursts <= 32 bits", () => jsCrc32(buf)],
  ["JS xxhash32-like", "none (statistical)", () => xxLike(buf)],
  ...(["md5", "sha1", "sha256", "sha512"] as const).map((alg) =>
    [
      `node:crypto ${alg}`,
      alg === "sha256" || alg === "sha512" ? "cryptographic" : "broken crypto, statistical",
      () => {
        const h = createHash(alg);
        for (let o = 0; o < SIZE; o += CHUNK) h.update(buf.subarray(o, o + CHUNK));
        return h.digest("hex");
      },
    ] as [string, string, () => unknown]
  ),
  [
    "crypto.subtle SHA-256 (whole buffer, async)",
    "cryptographic",
    () => crypto.subtle.digest("SHA-256", buf),
  ],
];

console.log(`state_checksums: ${SIZE >> 20} MiB, best of 3, Deno ${Deno.version.deno}`);
console.log("| candidate | detection guarantee | MiB/s |");
console.log("|---|---|---:|");
for (const [name, guarantee, fn] of candidates) {
  if (name.startsWith("node:zlib") && !zcrc) continue;
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  console.log(`| ${name} | ${guarantee} | ${((SIZE / 1048576) / (best / 1000)).toFixed(0)} |`);
}
