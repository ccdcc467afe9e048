/**
 * Main-side handles on one worker: a Deno Worker thread or a `deno run` child process.
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";
import { encodeFrame, FrameDecoder } from "./frames.ts";

/** What the pool needs from one worker, whatever its kind. */
export interface WorkerHandle {
  /** Send a message (transfer lists are honoured by threads, ignored by processes). */
  post(message: unknown, transfer?: Transferable[]): void;
  /** Stop the worker now and release every resource it holds. */
  terminate(): Promise<void>;
  /** Throw when `value` cannot be sent to this kind of worker (the same encoder, nothing sent). */
  probe(value: unknown): void;
}

/** Callbacks a handle reports to. */
export interface HandleEvents {
  /** A message from the worker. */
  message(message: unknown): void;
  /** The worker died on its own (not through `terminate`). */
  exit(reason: string, error?: Error): void;
}

/** Spawn a Deno Worker running the pool runtime. */
export function spawnThread(events: HandleEvents): WorkerHandle {
  const worker = new Worker(new URL("./thread_entry.ts", import.meta.url), { type: "module" });
  let ended = false;
  worker.onmessage = (e) => events.message(e.data);
  worker.onerror = (e) => {
    e.preventDefault();
    if (!ended) {
      events.exit(
        `uncaught error in the worker: ${e.message}`,
        e.error instanceof Error ? e.error : undefined,
      );
    }
  };
  worker.onmessageerror = () => {
    if (!ended) events.exit("a message from the worker could not be deserialized");
  };
  return {
    post: (m, t) => (t ? worker.postMessage(m, t) : worker.postMessage(m)),
    terminate: () => {
      ended = true;
      worker.terminate();
      return Promise.resolve();
    },
    probe: (value) => void structuredClone(value),
  };
}

/** Spawn a `deno run` child process running the pool runtime (length-prefixed v8 frames). */
export function spawnProcess(events: HandleEvents, denoArgs: readonly string[]): WorkerHandle {
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
          const msg = deserialize(body);
          if (!ended) events.message(msg);
        }
      }
    } catch { /* the pipe closed under us: the status handler reports */ }
  })();

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
    post(m) {
      if (broken) return;
      writer.write(encodeFrame(serialize(m))).catch(() => {
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
