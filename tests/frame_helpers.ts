/** Shared helpers of the frame tests: an in-memory writer/reader pair and the error form. */

import type { FrameReader, FrameWriter } from "../src/frame/codec.ts";

/** A writer and a reader over one in-memory map of files. */
export function memoryStore(): {
  out: FrameWriter;
  input: FrameReader;
  files: Map<string, unknown>;
} {
  const files = new Map<string, unknown>();
  return {
    files,
    out: {
      writeJson: (n, v) => void files.set(n, JSON.stringify(v)),
      writeBytes: (n, b) => void files.set(n, b.slice()),
      writeArray: (n, a) => void files.set(n, a.slice()),
    },
    input: {
      has: (n) => files.has(n),
      readJson: <T>(n: string) => JSON.parse(files.get(n) as string) as T,
      readBytes: (n) => files.get(n) as Uint8Array,
      readArray: (n) => files.get(n) as Float64Array,
    },
  };
}

/** The form of every spool error message: "Cannot <action>: <reason>, received <value>". */
export const ERROR_FORM = /^Cannot [^:]+: .+, received .+/s;
