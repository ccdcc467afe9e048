/**
 * A chunk the coordinator cannot serialize for a remote worker: the inputs to blame fail alone
 * with a `CloneError`, the others are queued again.
 *
 * @module
 */

import { serialize } from "node:v8";
import { CloneError, findUnsendable, unsendableReason } from "../errors.ts";
import type { Chunk, MapRun } from "../map_run.ts";

/** A chunk that cannot be serialized: its inputs that cannot fail alone, the others go again. */
export function rejectUnsendable(run: MapRun, chunk: Chunk, error: unknown): void {
  const why = (item: unknown, index: number) => {
    const found = findUnsendable(item, (v) => void serialize(v), "input");
    if (found === undefined) return undefined;
    return new CloneError(
      `send input #${index}`,
      found.path,
      `cannot be sent to a remote worker: ${unsendableReason(found.value, found.error)}`,
      found.value,
      { cause: found.error },
    );
  };
  const fallback = new CloneError(
    `send input #${chunk.start}`,
    "input",
    `cannot be sent to a remote worker: ${unsendableReason(undefined, error)}`,
    chunk.items,
    { cause: error },
  );
  run.rejectUnsendable(chunk, -1, why, fallback);
}
