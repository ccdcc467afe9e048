// Control always works: a run over a synchronous source gives timers and signals a turn, so
// timers fire, pause/stop/wait from a timer act during the run, and checkpoints commit on time.
import assert from "node:assert/strict";
import { Pipeline, type PipelineEvent, PipelineTimeoutError } from "./mod.ts";

const N = 3_000_000;

/** A synchronous, resumable source of `n` numbers. */
function numbers(n: number) {
  return function* (position: number) {
    for (let i = position; i < n; i++) yield i;
  };
}

function threeNodes(fuse = true): Pipeline {
  const p = new Pipeline({ fuse });
  p.source("s");
  p.node("a", { inputs: ["s"], fn: (x: number) => x + 1 });
  p.node("b", { inputs: ["a"], fn: (x: number) => x * 2 });
  p.node("c", { inputs: ["b"], fn: (x: number) => x - 1 });
  return p;
}

for (const fuse of [true, false]) {
  Deno.test(`pipeline turn: a timer fires during a long synchronous-source run (fuse: ${fuse})`, async () => {
    let fired = 0;
    const id = setInterval(() => fired++, 5);
    let n = 0;
    try {
      const run = threeNodes(fuse).run({ s: numbers(N) });
      for await (const _ of run.outputs.c!) n++;
      await run.done;
    } finally {
      clearInterval(id);
    }
    assert.equal(n, N);
    assert.ok(fired >= 2, `the interval fired ${fired} times during the run`);
  });
}

Deno.test("pipeline turn: a timer fires during runToCompletion with a fused consumer", async () => {
  let fired = 0;
  let firedAt = -1;
  let n = 0;
  const id = setInterval(() => {
    if (fired++ === 0) firedAt = n;
  }, 5);
  try {
    await threeNodes().runToCompletion({ s: numbers(N) }, { sinks: { c: () => void n++ } });
  } finally {
    clearInterval(id);
  }
  assert.equal(n, N);
  assert.ok(firedAt >= 0 && firedAt < N, `the first tick came at item ${firedAt} of ${N}`);
});

Deno.test("pipeline turn: pause() and resume() from timers act during the run", async () => {
  let n = 0;
  let atPause = -1;
  let atResume = -1;
  const run = threeNodes().run({ s: numbers(N) });
  const t1 = setTimeout(() => {
    run.pause();
    atPause = n;
  }, 10);
  // Resume once the paused run has been idle for several timer turns.
  let idleTicks = 0;
  let last = -1;
  const t2 = setInterval(() => {
    if (atPause < 0) return;
    idleTicks = n === last ? idleTicks + 1 : 0;
    last = n;
    if (idleTicks >= 3 && atResume < 0) {
      atResume = n;
      run.resume();
    }
  }, 5);
  try {
    for await (const _ of run.outputs.c!) n++;
    await run.done;
  } finally {
    clearTimeout(t1);
    clearInterval(t2);
  }
  assert.equal(n, N);
  assert.ok(atPause >= 0 && atPause < N, `paused at item ${atPause} of ${N}`);
  // In flight when paused: at most the edge and sink buffers.
  assert.ok(atResume >= atPause && atResume < N, `resumed at ${atResume}, paused at ${atPause}`);
});

Deno.test("pipeline turn: stop() from a timer drains and ends the run early", async () => {
  let n = 0;
  const run = threeNodes().run({ s: numbers(N) });
  const t = setTimeout(() => void run.stop().catch(() => {}), 10);
  try {
    for await (const _ of run.outputs.c!) n++;
    await run.done;
  } finally {
    clearTimeout(t);
  }
  assert.ok(n > 0 && n < N, `stopped after ${n} of ${N} items`);
});

Deno.test("pipeline turn: wait({ timeoutMs }) rejects with PipelineTimeoutError before the run ends", async () => {
  let n = 0;
  let ended = false;
  const run = threeNodes().run({ s: numbers(N) });
  const reading = (async () => {
    for await (const _ of run.outputs.c!) n++;
    await run.done;
    ended = true;
  })();
  let endedAtTimeout: boolean | undefined;
  await assert.rejects(
    run.wait({ timeoutMs: 10 }).finally(() => (endedAtTimeout = ended)),
    PipelineTimeoutError,
  );
  assert.equal(endedAtTimeout, false);
  await reading;
  assert.equal(n, N);
});

Deno.test("pipeline turn: checkpointEvery { ms } checkpoints during a synchronous run", async () => {
  const store = await Deno.makeTempDir({ prefix: "spool-turn-" });
  const during: number[] = [];
  try {
    await threeNodes().runToCompletion({ s: numbers(N) }, {
      store,
      checkpointEvery: { ms: 5 },
      sinks: { c: () => {} },
      logger: (e: PipelineEvent) => {
        if (e.type === "checkpoint" && !e.done) during.push(e.positions.s!);
      },
    });
  } finally {
    await Deno.remove(store, { recursive: true });
  }
  assert.ok(during.length >= 1, "no time-based checkpoint during the run");
  assert.ok(during[0]! < N);
});

Deno.test("pipeline turn: checkpointEvery { items } commits all along the run, not at its end", async () => {
  const store = await Deno.makeTempDir({ prefix: "spool-turn-" });
  const during: number[] = [];
  let n = 0;
  try {
    await threeNodes().runToCompletion({ s: numbers(N) }, {
      store,
      checkpointEvery: { items: 1000 },
      sinks: { c: () => void n++ },
      // Where the sink was when each checkpoint committed.
      logger: (e: PipelineEvent) => {
        if (e.type === "checkpoint" && !e.done) during.push(n);
      },
    });
  } finally {
    await Deno.remove(store, { recursive: true });
  }
  // Committed checkpoints spread over the run: one in each half at least.
  assert.ok(during.length >= 3, `${during.length} checkpoints committed during the run`);
  assert.ok(during.some((x) => x < N / 2), `commits at ${during.join(",")}`);
  assert.ok(during.some((x) => x >= N / 2 && x < N), `commits at ${during.join(",")}`);
});
