// Producer Worker of bench/native_compare.ts: sends `count` messages of `size` bytes to the
// main thread through postMessage + transfer or a native RingQueue.
import { RingQueue } from "../src/native/ring_queue.ts";

const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
};

scope.onmessage = (event: MessageEvent) => {
  const { mode, count, size, id } = event.data as {
    mode: "ready" | "postMessage" | "ring" | "ring-fresh";
    count: number;
    size: number;
    id: number;
  };
  if (mode === "ready") {
    if (id) RingQueue.open(id); // loads the addon in this Worker before timing starts
    scope.postMessage("ready");
    return;
  }
  if (mode === "postMessage") {
    for (let i = 0; i < count; i++) {
      const m = new Uint8Array(size);
      m[0] = i & 0xff;
      scope.postMessage(m, [m.buffer]);
    }
    return;
  }
  const q = RingQueue.open(id);
  const reused = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    const m = mode === "ring" ? reused : new Uint8Array(size);
    m[0] = i & 0xff;
    q.push(m);
  }
  q.close();
};
