/**
 * Sweep rows of the error classes: each is a `SpoolError` subclass whose message, built from
 * typical constructor arguments, has the project's form.
 */

import * as spool from "../../mod.ts";
import type { Row } from "./harness.ts";

type Ctor = new (...args: never[]) => spool.SpoolError;

/** Typical constructor arguments per class (the default is `(action, reason, { received })`). */
const argsOf: Record<string, unknown[]> = {
  NdjsonParseError: [3, "{bad", new SyntaxError("Unexpected token")],
  NodeError: ["parse", { id: 1 }, new Error("user error")],
  SnapshotCorruptError: ["/tmp/store/snapshot-1", "state.bin", "checksum mismatch"],
  StateComponentError: ["save a snapshot", "model", new Error("user error")],
  StoreLockedError: ["/tmp/store", { pid: 1, hostname: "h", since: "2026-01-01" }],
  TaskError: [3, 0, new Error("user error")],
  WorkerCrashError: [0, "the worker exited with code 3"],
  WorkerInitError: [0, new Error("user error")],
  FrameError: ["build a frame", "bad column", { column: "a", received: 42 }],
};

/** Every error class mod.ts exports (by prototype chain, so a new one is picked up). */
export const errorClassNames: string[] = Object.entries(spool)
  .filter(([, v]) => typeof v === "function" && v.prototype instanceof Error)
  .map(([k]) => k);

export const errorRows: Row[] = errorClassNames.filter((name) => name !== "FrameError").map((
  name,
) => ({
  export: name,
  area: "errors",
  cases: [{
    name: `new ${name}(${name in argsOf ? "typical arguments" : "action, reason, { received }"})`,
    run: () => {
      const Ctor = (spool as unknown as Record<string, Ctor>)[name]!;
      const args = argsOf[name] ?? ["do a thing", "it went wrong", { received: 42 }];
      throw new Ctor(...(args as never[]));
    },
    expect: { spool: true, class: (spool as unknown as Record<string, Ctor>)[name]! },
  }],
}));
