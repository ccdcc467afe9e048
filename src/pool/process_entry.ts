/**
 * Entry script of a pool worker process (`kind: "process"`): messages are length-prefixed
 * `node:v8` serialized frames on stdin/stdout. `console.log` and friends go to stderr so they
 * cannot corrupt the channel; user code must not write to `Deno.stdout` directly.
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";
import { FrameDecoder } from "./wire_frames.ts";
import { serve } from "./worker_runtime.ts";

for (const name of ["log", "info", "debug", "dir", "table"] as const) {
  (console as unknown as Record<string, unknown>)[name] = console.error.bind(console);
}

const exit = Deno.exit;
const header = new Uint8Array(4);
function writeAll(bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

serve({
  post: (m) => {
    const body = serialize(m);
    new DataView(header.buffer).setUint32(0, body.length, true);
    writeAll(header);
    writeAll(body);
  },
  listen: (handler) => {
    (async () => {
      const frames = new FrameDecoder();
      for await (const piece of Deno.stdin.readable) {
        for (const body of frames.push(piece)) handler(deserialize(body));
      }
      exit(0); // the pool closed our stdin
    })();
  },
  exit: (code) => exit(code),
  probe: (value) => void serialize(value),
});
