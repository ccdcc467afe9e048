/**
 * The Worker side of {@linkcode workerPrefetch}: imports the producer module, iterates its
 * default export and sends each item to the main thread through a RingQueue (native) or
 * `postMessage` with transfer.
 *
 * @module
 */

import { createRequire } from "node:module";
import { InvalidArgumentError } from "../errors.ts";
import type { NativeBinding } from "./binding.ts";

/** The first message the main thread sends. */
export interface StartMessage {
  module: string;
  args: unknown;
  transport: "ring" | "postMessage";
  queueId?: number;
  libraryPath?: string;
  credits: number;
}

type Item = ArrayBufferView | ArrayBuffer;

function bytesOf(item: unknown): Uint8Array {
  if (item instanceof Uint8Array) return item;
  if (ArrayBuffer.isView(item)) {
    return new Uint8Array(item.buffer, item.byteOffset, item.byteLength);
  }
  if (item instanceof ArrayBuffer) return new Uint8Array(item);
  throw new InvalidArgumentError(
    "send an item from workerPrefetch",
    "items must be ArrayBuffers or typed arrays",
    { received: item },
  );
}

/** The Worker global scope, typed without the `deno.worker` lib (checked with main-thread code). */
const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
};

let credits = 0;
let creditWaiter: (() => void) | null = null;
let stopped = false;

function text(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

async function run(start: StartMessage): Promise<void> {
  let binding: NativeBinding | undefined;
  if (start.transport === "ring") {
    binding = createRequire(start.libraryPath!)(start.libraryPath!) as NativeBinding;
    binding.ringAttachProducer(start.queueId!);
  }
  const id = start.queueId!;
  try {
    const mod = await import(start.module);
    if (typeof mod.default !== "function") {
      throw new InvalidArgumentError(
        "load the workerPrefetch producer",
        "the module must export a default producer function",
        { received: start.module },
      );
    }
    const source = mod.default(start.args) as AsyncIterable<Item> | Iterable<Item>;
    credits = start.credits;
    for await (const item of source) {
      if (stopped) break;
      const bytes = bytesOf(item);
      if (binding) {
        try {
          binding.ringPush(id, bytes);
        } catch (error) {
          if ((error as { code?: string }).code === "Closing") break; // the consumer stopped
          throw error;
        }
      } else {
        while (credits === 0 && !stopped) await new Promise<void>((r) => (creditWaiter = r));
        if (stopped) break;
        credits--;
        // A view of part of a buffer is copied (a transfer would move the whole buffer).
        const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength &&
            bytes.buffer instanceof ArrayBuffer
          ? bytes
          : bytes.slice();
        scope.postMessage({ value: own }, [own.buffer as ArrayBuffer]);
      }
    }
    if (binding) binding.ringClose(id);
    else scope.postMessage({ done: true });
  } catch (error) {
    if (binding) binding.ringFail(id, text(error));
    else scope.postMessage({ error: text(error) });
  }
}

scope.onmessage = (event: MessageEvent) => {
  const data = event.data as StartMessage | { credit: number } | { stop: true };
  if ("module" in data) {
    run(data);
  } else if ("credit" in data) {
    credits += data.credit;
    creditWaiter?.();
    creditWaiter = null;
  } else if ("stop" in data) {
    stopped = true;
    creditWaiter?.();
    creditWaiter = null;
  }
};
