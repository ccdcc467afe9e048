import assert from "node:assert/strict";
import { afterTurn, giveTurn, PROMPT_STRIDE, promptTurns, TURN_SLICE_MS, turnDue } from "./turn.ts";

Deno.test("turn: a timer fires during a loop of resolved awaits that checks turnDue", async () => {
  let fired = 0;
  const id = setInterval(() => fired++, 5);
  const t0 = Date.now();
  try {
    while (Date.now() - t0 < 300) {
      await Promise.resolve();
      if (turnDue()) await giveTurn();
    }
  } finally {
    clearInterval(id);
  }
  assert.ok(fired >= 5, `the interval fired ${fired} times in 300 ms`);
});

Deno.test("turn: without the check the same loop starves the timer (the test can fail)", async () => {
  let fired = 0;
  const id = setInterval(() => fired++, 5);
  const t0 = Date.now();
  try {
    while (Date.now() - t0 < 100) await Promise.resolve();
  } finally {
    clearInterval(id);
  }
  assert.equal(fired, 0);
});

Deno.test("turn: turnDue stays false right after a turn and turns true after the slice", async () => {
  await giveTurn();
  assert.equal(turnDue(), false);
  const t0 = Date.now();
  let due = false;
  while (!due && Date.now() - t0 < 10 * TURN_SLICE_MS) due = turnDue();
  assert.ok(due, "turnDue never became true");
  assert.ok(Date.now() - t0 >= TURN_SLICE_MS - 1);
});

Deno.test("turn: under promptTurns a turn is due within PROMPT_STRIDE calls", async () => {
  await giveTurn();
  let calls = 0;
  await promptTurns(async () => {
    await Promise.resolve();
    while (!turnDue()) calls++;
  });
  assert.ok(calls < PROMPT_STRIDE, `turnDue took ${calls} calls to say a turn is due`);
  // Outside promptTurns the slice is back to TURN_SLICE_MS.
  await giveTurn();
  assert.equal(turnDue(), false);
});

Deno.test("turn: promptTurns passes the work's error through and restores the slice", async () => {
  class Boom extends Error {}
  await assert.rejects(promptTurns(() => Promise.reject(new Boom("x"))), Boom);
  await giveTurn();
  // 1100 calls read the clock at least once: with the prompt slice still on, one would say yes.
  let due = false;
  for (let i = 0; i < 1100; i++) due ||= turnDue();
  assert.equal(due, false, "a turn was due right after a turn: the prompt slice stayed on");
});

Deno.test("turn: afterTurn settles with its value after timers that were due have run", async () => {
  let fired = false;
  const t = setTimeout(() => (fired = true), 0);
  // Make the timer due without letting the event loop turn.
  const t0 = Date.now();
  while (Date.now() - t0 < 5) { /* busy */ }
  const v = await afterTurn(42);
  clearTimeout(t);
  assert.equal(v, 42);
  assert.ok(fired, "the due timer had not run when afterTurn settled");
});
