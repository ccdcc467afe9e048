/**
 * `workerPrefetch`: run a producer in a Worker and consume its byte items on this thread,
 * through a native {@linkcode RingQueue} or `postMessage` with transfer.
 *
 * @module
 */

import { assertInteger, InvalidArgumentError } from "../errors.ts";
import { abortError, throwIfAborted } from "../_internal/abort.ts";
import { optionalOneOf, optionsOf } from "../_internal/options.ts";
import { AbortedError } from "../errors.ts";
import { ProducerError } from "./errors.ts";
import { loadedLibraryPath, nativeBinding } from "./load.ts";
import { RingQueue } from "./ring_queue.ts";
import { Ring } from "../_internal/ring.ts";
import type { StartMessage } from "./prefetch_worker.ts";

/** Options of {@linkcode workerPrefetch}. */
export interface WorkerPrefetchOptions {
  /** Items that may wait ahead of the consumer (default 16). */
  size?: number;
  /**
   * `"ring"` (native RingQueue), `"postMessage"` (transfer) or `"auto"` (default: ring when the
   * addon is loaded, postMessage otherwise).
   */
  transport?: "auto" | "ring" | "postMessage";
  /** Passed to the module's default export (structured-cloned). */
  args?: unknown;
  /** Aborting stops the Worker and rejects the consumer with `AbortedError`. */
  signal?: AbortSignal;
}

const ACTION = "read from workerPrefetch";

/**
 * Iterate, on this thread, the byte items produced in a Worker by `module`'s default export
 * (`(args) => Iterable | AsyncIterable` of `ArrayBuffer` or typed arrays). Items arrive as
 * `Uint8Array`s. A producer error, or its Worker dying, ends the iteration with
 * {@linkcode ProducerError}; breaking out of the loop stops the Worker.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerPrefetch } from "@spool/spool";
 *
 * const url = "data:application/javascript," + encodeURIComponent(
 *   "export default function* (n) { for (let i = 0; i < n; i++) yield new Uint8Array([i]); }",
 * );
 * const got: number[] = [];
 * for await (const bytes of workerPrefetch(url, { args: 3, size: 2 })) got.push(bytes[0]!);
 * assert.ok(got.join() === "0,1,2");
 * ```
 */
export function workerPrefetch(
  module: string | URL,
  options: WorkerPrefetchOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const checked = optionsOf(ACTION, options, ["size", "transport", "args", "signal"]);
  if (!(module instanceof URL) && (typeof module !== "string" || module === "")) {
    throw new InvalidArgumentError(ACTION, "module must be a non-empty string or a URL", {
      received: module,
    });
  }
  const size = assertInteger(ACTION, "size", checked.size ?? 16, 1, 2 ** 32 - 1); // a RingQueue capacity
  const requested = optionalOneOf(ACTION, "transport", checked.transport, [
    "auto",
    "ring",
    "postMessage",
  ]) ?? "auto";
  if (checked.signal !== undefined && !(checked.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(ACTION, "signal must be an AbortSignal", {
      received: checked.signal,
    });
  }
  if (checked.args !== undefined) {
    try {
      structuredClone(checked.args); // what postMessage does to it in the Worker's start message
    } catch (error) {
      throw new InvalidArgumentError(ACTION, "args must be structured-cloneable", {
        received: checked.args,
        cause: error,
      });
    }
  }
  const transport = requested === "auto" ? (nativeBinding() ? "ring" : "postMessage") : requested;
  throwIfAborted(ACTION, options.signal);
  return transport === "ring"
    ? viaRing(String(module), size, options)
    : viaPostMessage(String(module), size, options);
}

function spawn(): Worker {
  return new Worker(new URL("./prefetch_worker.ts", import.meta.url), { type: "module" });
}

function aborted(signal: AbortSignal): AbortedError {
  return abortError(ACTION, signal);
}

async function* viaRing(
  module: string,
  size: number,
  options: WorkerPrefetchOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  const signal = options.signal;
  // Aborted before the first next(): an "abort" listener added now would never fire.
  if (signal?.aborted) throw aborted(signal);
  const queue = RingQueue.create(size);
  const worker = spawn();
  let abortError: AbortedError | undefined;
  const onAbort = () => {
    abortError = aborted(signal!);
    queue.close({ discard: true });
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  worker.onerror = (event) => {
    event.preventDefault();
    queue.fail(`the producer Worker crashed: ${event.message}`);
  };
  try {
    const start: StartMessage = {
      module,
      args: options.args,
      transport: "ring",
      queueId: queue.id,
      libraryPath: loadedLibraryPath(),
      credits: size,
    };
    worker.postMessage(start);
    for await (const batch of queue.batches(size)) {
      if (abortError) throw abortError;
      yield* batch;
    }
    if (abortError) throw abortError;
  } catch (error) {
    if (abortError) throw abortError;
    throw error instanceof ProducerError
      ? new ProducerError(ACTION, error.reason, { received: module, cause: error })
      : error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    queue.close({ discard: true }); // wakes a producer blocked on a full queue
    worker.terminate();
    queue.release();
  }
}

async function* viaPostMessage(
  module: string,
  size: number,
  options: WorkerPrefetchOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  // Aborted before the first next(): an "abort" listener added now would never fire.
  if (options.signal?.aborted) throw aborted(options.signal);
  const worker = spawn();
  const items = new Ring<Uint8Array>(size); // at most `size` in flight: the credits bound them
  let done = false;
  let failure: Error | undefined;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const signal = options.signal;
  const onAbort = () => {
    failure ??= aborted(signal!);
    notify();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  worker.onmessage = (event: MessageEvent) => {
    const data = event.data as { value?: Uint8Array; done?: true; error?: string };
    if (data.value) items.push(data.value);
    else if (data.done) done = true;
    else if (data.error) {
      failure ??= new ProducerError(ACTION, `the producer failed: ${data.error}`, {
        received: module,
      });
    }
    notify();
  };
  worker.onerror = (event) => {
    event.preventDefault();
    failure ??= new ProducerError(
      ACTION,
      `the producer Worker crashed: ${event.message}`,
      { received: module },
    );
    notify();
  };
  try {
    const start: StartMessage = {
      module,
      args: options.args,
      transport: "postMessage",
      credits: size,
    };
    worker.postMessage(start);
    let consumed = 0;
    const refill = Math.max(1, size >> 1);
    while (true) {
      if (failure instanceof AbortedError) throw failure;
      if (items.length > 0) {
        const item = items.shift();
        if (++consumed === refill) {
          worker.postMessage({ credit: consumed });
          consumed = 0;
        }
        yield item;
        continue;
      }
      if (failure) throw failure;
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    worker.terminate();
  }
}
