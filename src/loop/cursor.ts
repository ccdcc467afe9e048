/**
 * Where a loop is: the mutable facts that the facade (`buffer`, the getters, `close`), the
 * iteration and the checkpoint file share. One object, so that each of them reads and writes the
 * same fields without reaching into the others.
 *
 * @module
 */

import { ClosedError, InvalidArgumentError } from "../errors.ts";
import { LoopMisuseError } from "./errors.ts";
import type { SiteBuffer } from "./buffers.ts";

/** The shared, mutable position and flags of one `StatefulLoop`. */
export class LoopCursor {
  /** The checkpoint directory (named in errors). */
  readonly path: string;
  /** Items completed, counting those of earlier runs. */
  position = 0;
  /** The buffer sites, in first-use (or checkpoint) order. */
  sites = new Map<string, SiteBuffer>();
  /** `true` when the loop runs `items()` (which does not buffer). */
  plain = false;
  /** `true` while the body runs an item or the final pass (`buffer()` is allowed). */
  inBody = false;
  /** `true` while the body runs the end-of-source pass. */
  final = false;
  /** `true` once the iteration stopped in the middle of an item. */
  stopped = false;
  /** `true` once `close()` ran. */
  closed = false;
  /** `true` when a site flushed during the current item (the `afterFlush` trigger). */
  flushedThisItem = false;
  /** `true` after `requestCheckpoint()`, until the next checkpoint. */
  requested = false;
  /** The `everyMs` timer of the running iteration, if any. */
  timer: ReturnType<typeof setTimeout> | undefined;

  /** @param path the checkpoint directory */
  constructor(path: string) {
    this.path = path;
  }

  /** Throw a `ClosedError` naming `action` once the loop is closed. */
  assertOpen(action: string): void {
    if (this.closed) throw new ClosedError(action, "the loop is closed", { received: this.path });
  }

  /** `true` when some buffer site holds frames. */
  holdsFrames(): boolean {
    for (const site of this.sites.values()) if (site.holds) return true;
    return false;
  }

  /** Stop the `everyMs` timer, if one runs. */
  clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Throw unless `buffer()` is allowed: the loop is open, runs `iterate()`, is inside its body. */
  assertInBody(action: string, site: unknown): void {
    this.assertOpen(action);
    if (this.plain) {
      throw new LoopMisuseError(
        action,
        "loop.items() does not buffer (its end-of-source flush needs the final step): use " +
          "loop.iterate()",
        { received: site },
      );
    }
    if (!this.inBody) {
      throw new LoopMisuseError(
        action,
        this.stopped
          ? "the loop stopped in the middle of an item; open it again to resume"
          : "buffer() must be called inside the body of a loop.iterate() loop",
        { received: site },
      );
    }
    if (typeof site !== "string" || site === "") {
      throw new InvalidArgumentError(action, "site must be a non-empty string", { received: site });
    }
  }
}
