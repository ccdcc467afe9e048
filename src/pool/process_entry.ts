/**
 * Entry script of a pool worker process (`kind: "process"`): messages are length-prefixed
 * `node:v8` serialized frames on stdin/stdout. `console.log` and friends go to stderr so they
 * cannot corrupt the channel; user code must not write to `Deno.stdout` directly.
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";
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
      let buf = new Uint8Array(0);
      for await (const piece of Deno.stdin.readable) {
        if (buf.length === 0) buf = piece;
        else {
          const joined = new Uint8Array(buf.length + piece.length);
          joined.set(buf);
          joined.set(piece, buf.length);
          buf = joined;
        }
        let off = 0;
        while (buf.length - off >= 4) {
          const len = new DataView(buf.buffer, buf.byteOffset + off, 4).getUint32(0, true);
          if (buf.length - off - 4 < len) break;
          const msg = deserialize(buf.subarray(off + 4, off + 4 + len));
          off += 4 + len;
          handler(msg);
        }
        buf = buf.subarray(off);
      }
      exit(0); // the pool closed our stdin
    })();
  },
  exit: (code) => exit(code),
});
