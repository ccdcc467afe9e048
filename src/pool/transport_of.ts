/**
 * The one place that picks a pool's transport backend by `kind` (a new backend is added here and
 * in its own file, next to `thread_transport.ts` and `process_transport.ts`).
 *
 * @module
 */

import { processTransport } from "./process_transport.ts";
import { threadTransport } from "./thread_transport.ts";
import type { WorkerTransport } from "./transport.ts";

/** Settings a backend may use. */
export interface TransportSettings {
  /** Flags for `deno run` of process workers. */
  denoArgs: readonly string[];
}

/** The backend of a pool `kind`: the one place that chooses. */
export function transportOf(
  kind: "worker" | "process",
  settings: TransportSettings,
): WorkerTransport {
  return kind === "process" ? processTransport(settings.denoArgs) : threadTransport();
}
