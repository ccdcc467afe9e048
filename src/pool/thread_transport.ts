/**
 * The thread backend: each worker is a Deno `Worker` running `thread_entry.ts`. Messages are
 * structured clones; transfer lists move ArrayBuffers.
 *
 * @module
 */

import type { EndpointEvents, WorkerEndpoint, WorkerTransport } from "./transport.ts";

/** Start one Deno Worker running the pool runtime. */
function startThread(events: EndpointEvents): WorkerEndpoint {
  const worker = new Worker(new URL("./thread_entry.ts", import.meta.url), { type: "module" });
  let ended = false;
  worker.onmessage = (e) => events.message(e.data);
  worker.onerror = (e) => {
    e.preventDefault();
    if (!ended) {
      ended = true;
      events.exit(
        `uncaught error in the worker: ${e.message}`,
        e.error instanceof Error ? e.error : undefined,
      );
    }
  };
  worker.onmessageerror = () => {
    if (!ended) {
      ended = true;
      events.exit("a message from the worker could not be deserialized");
    }
  };
  return {
    post: (message, transfer) =>
      transfer ? worker.postMessage(message, transfer) : worker.postMessage(message),
    terminate: () => {
      ended = true;
      worker.terminate();
      return Promise.resolve();
    },
    probe: (value) => void structuredClone(value),
  };
}

/** The thread backend (`kind: "worker"`). Deno cannot stop a thread busy in JavaScript. */
export function threadTransport(): WorkerTransport {
  return { kind: "worker", mayOutliveTerminate: true, start: startThread };
}
