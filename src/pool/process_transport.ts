/**
 * The process backend: each worker is a `deno run` child running `process_entry.ts`; messages
 * are v8-serialized, in length-prefixed frames (`wire_frames.ts`) over its stdin and stdout.
 * Transfer lists are ignored (a process cannot share memory): buffers are copied.
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";
import type { EndpointEvents, WorkerEndpoint, WorkerTransport } from "./transport.ts";
import { encodeFrame, FrameDecoder } from "./wire_frames.ts";

/** Start one `deno run` child process running the pool runtime. */
function startProcess(events: EndpointEvents, denoArgs: readonly string[]): WorkerEndpoint {
  const entry = new URL("./process_entry.ts", import.meta.url).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...denoArgs, entry],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  let ended = false;
  let broken = false;

  const reading = (async () => {
    const frames = new FrameDecoder();
    try {
      for await (const piece of child.stdout) {
        for (const body of frames.push(piece)) {
          const message = deserialize(body);
          if (!ended) events.message(message);
        }
      }
    } catch { /* the pipe closed under us: the status handler reports */ }
  })();

  // Every message read before the exit is reported before it (the status waits for the reader).
  const status = child.status.then(async (s) => {
    await reading;
    if (!ended) {
      ended = true;
      events.exit(
        s.signal
          ? `the worker process was killed by ${s.signal}`
          : `the worker process exited with code ${s.code}`,
      );
    }
    return s;
  });

  return {
    post(message) {
      if (broken) return; // the child is gone: its exit is (or will be) reported
      writer.write(encodeFrame(serialize(message))).catch(() => {
        broken = true;
      });
    },
    async terminate() {
      ended = true;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await status;
      await writer.close().catch(() => {});
    },
    probe: (value) => void serialize(value),
  };
}

/** The process backend (`kind: "process"`): a child process is killed for sure. */
export function processTransport(denoArgs: readonly string[]): WorkerTransport {
  return {
    kind: "process",
    mayOutliveTerminate: false,
    start: (events) => startProcess(events, denoArgs),
  };
}
