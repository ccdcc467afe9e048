/**
 * Entry script of a pool worker thread (a Deno Worker).
 *
 * @module
 */

import { serve } from "./worker_runtime.ts";

const scope = globalThis as unknown as {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
  close(): void;
};
const close = scope.close.bind(scope);

serve({
  post: (m, t) => t ? scope.postMessage(m, t) : scope.postMessage(m),
  listen: (handler) => {
    scope.onmessage = (e) => handler(e.data);
  },
  exit: () => close(),
  probe: (value) => void structuredClone(value),
});
