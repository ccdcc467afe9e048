/**
 * Checksums of snapshot files.
 *
 * `crc32` (the default) is the IEEE CRC-32 of zip/gzip/PNG computed by the runtime's native
 * `node:zlib` `crc32` (tens of GB/s, so a save stays I/O bound). It detects every burst error of
 * up to 32 bits (so every single flipped byte) and lets a random corruption through with
 * probability 2^-32; the manifest also records each file's exact size, so truncation and
 * extension are always caught. `sha256` (node:crypto, ~1.7 GB/s on this machine) is available
 * when a cryptographic digest is wanted.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { createHash } from "node:crypto";

/** Checksum algorithms a store can record. */
export type ChecksumAlgorithm = "crc32" | "sha256";

/** An incremental checksum. */
export interface Hasher {
  /** Feed the next bytes. */
  update(bytes: Uint8Array): void;
  /** The final digest as lowercase hex. */
  digest(): string;
}

const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number })
  .crc32;

let TABLE: Uint32Array | undefined;
function jsCrc32(data: Uint8Array, value = 0): number {
  if (!TABLE) {
    TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      TABLE[n] = c >>> 0;
    }
  }
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE) of `data`, continuing from `value`. */
export const crc32: (data: Uint8Array, value?: number) => number = nativeCrc32 ?? jsCrc32;

class Crc32Hasher implements Hasher {
  #value = 0;
  update(bytes: Uint8Array): void {
    if (bytes.byteLength > 0) this.#value = crc32(bytes, this.#value) >>> 0;
  }
  digest(): string {
    return this.#value.toString(16).padStart(8, "0");
  }
}

class Sha256Hasher implements Hasher {
  #h = createHash("sha256");
  update(bytes: Uint8Array): void {
    this.#h.update(bytes);
  }
  digest(): string {
    return this.#h.digest("hex");
  }
}

/** A fresh incremental hasher for `algorithm`. */
export function createHasher(algorithm: ChecksumAlgorithm): Hasher {
  return algorithm === "sha256" ? new Sha256Hasher() : new Crc32Hasher();
}

/** `true` for a supported algorithm name. */
export function isChecksumAlgorithm(value: unknown): value is ChecksumAlgorithm {
  return value === "crc32" || value === "sha256";
}

/** Checksum of a whole buffer. */
export function checksumOf(algorithm: ChecksumAlgorithm, bytes: Uint8Array): string {
  const h = createHasher(algorithm);
  h.update(bytes);
  return h.digest();
}
