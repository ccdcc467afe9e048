/**
 * Crash culprit attribution: when a worker dies (crash notice, exit, kill, timeout), which of
 * its in-flight chunks is to blame, and what happens to the others.
 *
 * The worker sends replies in batches, so a silent death (SIGKILL, OOM, a timeout) does not say
 * which chunk was running. The rule:
 * - the chunk the worker named in its crash notice is the culprit;
 * - else the oldest unacknowledged chunk, when it was sent isolated (the worker flushed every
 *   reply right before running it, so it is the one that was running);
 * - else nobody is blamed yet: every chunk is sent again, isolated, so the next death is exact
 *   (a chunk retried this way more than {@linkcode MAX_SILENT_RETRIES} times fails).
 *
 * Only the culprit fails; the others did nothing wrong and go back to the front of their maps'
 * queues in their original order (not counted as retries when a culprit is known).
 *
 * @module
 */

import type { Chunk, MapRun } from "./map_run.ts";
import { ISOLATE } from "./protocol.ts";

/** Times a chunk is re-sent after deaths that named nobody before it fails. */
export const MAX_SILENT_RETRIES = 3;

/**
 * Position in `inflight` (oldest first) of the chunk to blame for a worker's death, or -1 when
 * nobody can be blamed. `namedChunk` is the id the worker named (-1 when it said nothing).
 */
export function culpritOf(inflight: readonly Chunk[], namedChunk: number): number {
  const named = inflight.findIndex((c) => c.id === namedChunk);
  if (named >= 0) return named;
  const oldest = inflight[0];
  if (oldest && (oldest.isolate || (oldest.run.flags & ISOLATE) !== 0)) return 0;
  return -1;
}

/**
 * Settle the chunks a dead worker held: the culprit (position `culprit`, or -1) fails with
 * `cause`; the others are requeued at the front of their maps (isolated, and counted as a retry,
 * when nobody was blamed).
 */
export function settleDeadWorkerChunks(
  inflight: readonly Chunk[],
  culprit: number,
  worker: number,
  cause: Error,
): void {
  const again = new Map<MapRun, Chunk[]>();
  for (let i = 0; i < inflight.length; i++) {
    const chunk = inflight[i]!;
    if (i === culprit || (culprit < 0 && ++chunk.retries > MAX_SILENT_RETRIES)) {
      chunk.run.failChunk(chunk, worker, cause);
    } else {
      if (culprit < 0) chunk.isolate = true;
      const list = again.get(chunk.run);
      if (list) list.push(chunk);
      else again.set(chunk.run, [chunk]);
    }
  }
  for (const [run, chunks] of again) run.requeue(chunks);
}
