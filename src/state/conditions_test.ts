/** Save conditions: when a checkpoint is due. */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { anyCondition, EveryNCondition, PeriodicSaveCondition } from "./conditions.ts";

Deno.test("PeriodicSaveCondition: the first call arms; due once the interval has passed, then re-armed", () => {
  let now = 1000;
  const due = new PeriodicSaveCondition(100, { clock: () => now });
  assert.equal(due.intervalMs, 100);
  assert.equal(due.shouldSave(), false, "first call arms");
  now = 1099;
  assert.equal(due.shouldSave(), false);
  now = 1100;
  assert.equal(due.shouldSave(), true);
  assert.equal(due.shouldSave(), false, "re-armed at 1100");
});

Deno.test("PeriodicSaveCondition: a long pause gives one true, no burst of catch-up saves", () => {
  let now = 1000;
  const due = new PeriodicSaveCondition(100, { clock: () => now });
  due.shouldSave();
  now = 1100;
  due.shouldSave();
  now = 1500;
  assert.equal(due.shouldSave(), true);
  assert.equal(due.shouldSave(), false);
  now = 1599;
  assert.equal(due.shouldSave(), false);
});

Deno.test("PeriodicSaveCondition: after reset the first call arms again", () => {
  let now = 1000;
  const due = new PeriodicSaveCondition(100, { clock: () => now });
  due.shouldSave();
  now = 1100;
  assert.equal(due.shouldSave(), true);
  due.reset();
  now = 5000;
  assert.equal(due.shouldSave(), false, "after reset the first call arms again");
  now = 5100;
  assert.equal(due.shouldSave(), true);
});

Deno.test("PeriodicSaveCondition: a zero interval is due on every call after the first", () => {
  let now = 0;
  const always = new PeriodicSaveCondition(0, { clock: () => now });
  assert.equal(always.shouldSave(), false);
  assert.equal(always.shouldSave(), true);
  now = 1;
  assert.equal(always.shouldSave(), true);
});

for (const bad of [-1, NaN, Infinity, "5", undefined]) {
  Deno.test(`PeriodicSaveCondition: interval ${String(bad)} is refused`, () => {
    assert.throws(() => new PeriodicSaveCondition(bad as number), InvalidArgumentError);
  });
}

Deno.test("PeriodicSaveCondition: the default clock works without injection", () => {
  assert.equal(new PeriodicSaveCondition(60_000).shouldSave(), false);
});

Deno.test("EveryNCondition: due on every n-th call", () => {
  const every3 = new EveryNCondition(3);
  assert.deepEqual(Array.from({ length: 7 }, () => every3.shouldSave()), [
    false,
    false,
    true,
    false,
    false,
    true,
    false,
  ]);
});

Deno.test("EveryNCondition: reset starts the count again", () => {
  const every3 = new EveryNCondition(3);
  for (let i = 0; i < 7; i++) every3.shouldSave();
  every3.reset();
  assert.deepEqual([every3.shouldSave(), every3.shouldSave(), every3.shouldSave()], [
    false,
    false,
    true,
  ]);
});

Deno.test("EveryNCondition: n = 1 is due on every call", () => {
  const every1 = new EveryNCondition(1);
  assert.deepEqual([every1.shouldSave(), every1.shouldSave()], [true, true]);
});

for (const bad of [0, -1, 1.5, NaN, "2", undefined]) {
  Deno.test(`EveryNCondition: n ${String(bad)} (not an integer >= 1) is refused`, () => {
    assert.throws(() => new EveryNCondition(bad as number), InvalidArgumentError);
  });
}

Deno.test("anyCondition: due when any is due; every condition is advanced", () => {
  let now = 0;
  const time = new PeriodicSaveCondition(10, { clock: () => now });
  const count = new EveryNCondition(4);
  const any = anyCondition(time, count);
  const answers = [];
  for (let i = 0; i < 8; i++) {
    now = i * 3;
    answers.push(any.shouldSave());
  }
  // time: arms at 0, due at 12 (i=4), then at 24 (i=8, not reached); count: due at i=3, i=7.
  assert.deepEqual(answers, [false, false, false, true, true, false, false, true]);
});
