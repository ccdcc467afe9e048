// Worker used by tests/native_workers_test.ts: each instance loads the addon itself (its own
// napi env) and produces to or consumes from a RingQueue opened by id.
import { RingQueue } from "../../src/native/ring_queue.ts";

const scope = globalThis as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
};

scope.onmessage = (event: MessageEvent) => {
  const { role, id, worker, count, size } = event.data as {
    role: "produce" | "consume" | "produce-forever";
    id: number;
    worker: number;
    count: number;
    size: number;
  };
  const q = RingQueue.open(id);
  try {
    if (role === "consume") {
      let n = 0;
      let sum = 0;
      for (let m = q.pop(); m !== undefined; m = q.pop()) {
        n++;
        sum += m[0]!;
      }
      scope.postMessage({ n, sum });
      return;
    }
    q.attachProducer();
    const msg = new Uint8Array(size);
    if (role === "produce-forever") {
      scope.postMessage({ started: true });
      for (let i = 0;; i++) {
        msg[0] = i & 0xff;
        q.push(msg); // blocks when full; throws ClosedError once the consumer closes
      }
    }
    for (let i = 0; i < count; i++) {
      msg[0] = worker;
      msg[1] = i & 0xff;
      q.push(msg);
    }
    scope.postMessage({ done: true });
  } catch (error) {
    scope.postMessage({ error: `${(error as Error).name}: ${(error as Error).message}` });
  }
};
