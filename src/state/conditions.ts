/**
 * Save conditions: when a periodic checkpoint is due.
 *
 * @module
 */

import { optionalFunction, optionsOf } from "../_internal/options.ts";
import { assertInteger, assertNumber, InvalidArgumentError } from "../errors.ts";

/** Something that says whether a save is due now. Calling it may re-arm it. */
export interface SaveCondition {
  /** `true` when a save is due (and the condition re-arms), `false` otherwise. */
  shouldSave(): boolean;
}

/** Options of {@linkcode PeriodicSaveCondition}. */
export interface PeriodicSaveConditionOptions {
  /** Clock in milliseconds (default `performance.now`); inject one in tests. */
  clock?: () => number;
}

/**
 * Due every `intervalMs` milliseconds. The first call arms it and returns `false`; a later call
 * returns `true` once at least `intervalMs` have passed since the arming or since the last `true`,
 * and re-arms from that moment (no catch-up burst after a long pause). `intervalMs` 0 makes every
 * call after the first `true`; a negative or non-finite interval is an `InvalidArgumentError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PeriodicSaveCondition } from "@spool/spool";
 *
 * let now = 0;
 * const due = new PeriodicSaveCondition(1000, { clock: () => now });
 * assert.ok(due.shouldSave() === false); // arms
 * now = 999;
 * assert.ok(due.shouldSave() === false);
 * now = 1000;
 * assert.ok(due.shouldSave() === true); // re-arms at 1000
 * assert.ok(due.shouldSave() === false);
 * ```
 */
export class PeriodicSaveCondition implements SaveCondition {
  /** The interval in milliseconds. */
  readonly intervalMs: number;
  readonly #clock: () => number;
  #last: number | undefined;

  /**
   * Create the condition; it arms on its first call.
   *
   * @param intervalMs minimum milliseconds between two `true` answers (finite, >= 0)
   * @param options injectable clock
   */
  constructor(intervalMs: number, options: PeriodicSaveConditionOptions = {}) {
    const action = "create a PeriodicSaveCondition";
    this.intervalMs = assertNumber(action, "intervalMs", intervalMs, 0);
    const o = optionsOf(action, options, ["clock"]);
    this.#clock = optionalFunction<() => number>(action, "clock", o.clock) ??
      (() => performance.now());
  }

  /** `true` when the interval has passed since arming or the last `true`; then re-arms. */
  shouldSave(): boolean {
    const now = this.#clock();
    if (this.#last === undefined) {
      this.#last = now;
      return false;
    }
    if (now - this.#last >= this.intervalMs) {
      this.#last = now;
      return true;
    }
    return false;
  }

  /** Forget the arming: the next call arms again and returns `false`. */
  reset(): void {
    this.#last = undefined;
  }
}

/**
 * Due on every `n`-th call (`n`, `2n`, ...). `n` must be an integer >= 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EveryNCondition } from "@spool/spool";
 *
 * const due = new EveryNCondition(3);
 * const answers = Array.from({ length: 6 }, () => due.shouldSave());
 * assert.ok(answers.join() === "false,false,true,false,false,true");
 * ```
 */
export class EveryNCondition implements SaveCondition {
  /** The period in calls. */
  readonly n: number;
  #count = 0;

  /**
   * Create the condition.
   *
   * @param n period in calls (integer >= 1)
   */
  constructor(n: number) {
    this.n = assertInteger("create an EveryNCondition", "n", n, 1);
  }

  /** `true` on every `n`-th call. */
  shouldSave(): boolean {
    this.#count++;
    if (this.#count >= this.n) {
      this.#count = 0;
      return true;
    }
    return false;
  }

  /** Restart counting from zero. */
  reset(): void {
    this.#count = 0;
  }
}

/**
 * Due when any of `conditions` is due. Every condition is asked on each call (so each re-arms
 * on its own schedule). Something without a `shouldSave()` method is an `InvalidArgumentError`
 * here, not a `TypeError` at the first call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { anyCondition, EveryNCondition } from "@spool/spool";
 *
 * const due = anyCondition(new EveryNCondition(2), new EveryNCondition(3));
 * const answers = Array.from({ length: 6 }, () => due.shouldSave());
 * assert.deepEqual(answers, [false, true, true, true, false, true]);
 * ```
 */
export function anyCondition(...conditions: SaveCondition[]): SaveCondition {
  conditions.forEach((c, i) => {
    if (typeof (c as Partial<SaveCondition> | null)?.shouldSave !== "function") {
      throw new InvalidArgumentError(
        "combine save conditions",
        `conditions[${i}] must have a shouldSave() method`,
        { received: c },
      );
    }
  });
  conditions = [...conditions];
  return {
    shouldSave() {
      let due = false;
      for (const c of conditions) if (c.shouldSave()) due = true;
      return due;
    },
  };
}
