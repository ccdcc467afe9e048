// The raw Deno Worker floor for bench/pool_compare.ts: one message per task, one reply per task.
import { spin, touch } from "./pool_work.ts";

const scope = globalThis as unknown as {
  postMessage(m: unknown, t?: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
};
let mode = "noop";
let iters = 0;
scope.onmessage = (e) => {
  const m = e.data;
  if (m && typeof m === "object" && "mode" in m && !(m instanceof ArrayBuffer)) {
    mode = m.mode;
    iters = m.iters;
    scope.postMessage("ready");
    return;
  }
  if (mode === "noop") scope.postMessage(m);
  else if (mode === "cpu") scope.postMessage(spin(m, iters));
  else {
    const b = touch(m);
    scope.postMessage(b, [b]);
  }
};
