// Control always works: `iterate` over a large in-memory source gives timers a turn, so a timer
// fires, a signal aborted from a timer stops the loop, and the `everyMs` trigger checkpoints.
import assert from "node:assert/strict";
import { AbortedError } from "../errors.ts";
import { StatefulLoop } from "./mod.ts";
import { withTempDir } from "../../tests/temp_dir.ts";

const N = 3_000_000;
const big = () => Array.from({ length: N }, (_, i) => i);

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-loop-turn-");

Deno.test("loop turn: a timer fires during iterate over a large array", async () => {
  await withDir(async (dir) => {
    const source = big();
    await using loop = await StatefulLoop.open(dir, { checkpoint: { everyMs: false } });
    const s = loop.bindObjectState({ sum: 0 }, { name: "s", keys: ["sum"] });
    let n = 0;
    let firstTickAt = -1;
    const id = setInterval(() => {
      if (firstTickAt < 0) firstTickAt = n;
    }, 5);
    try {
      for await (const x of loop.items(source)) {
        s.sum += x;
        n++;
      }
    } finally {
      clearInterval(id);
    }
    assert.equal(n, N);
    assert.ok(firstTickAt >= 0 && firstTickAt < N, `first tick at item ${firstTickAt} of ${N}`);
  });
});

Deno.test("loop turn: a signal aborted from a timer stops iterate between items", async () => {
  await withDir(async (dir) => {
    const source = big();
    await using loop = await StatefulLoop.open(dir, { checkpoint: { everyMs: false } });
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), 10);
    let n = 0;
    try {
      await assert.rejects(
        (async () => {
          for await (const _ of loop.iterate(source, { signal: ctl.signal })) n++;
        })(),
        AbortedError,
      );
    } finally {
      clearTimeout(t);
    }
    assert.ok(n > 0 && n < N, `stopped after ${n} of ${N} items`);
    assert.equal(loop.position, n);
  });
});

Deno.test("loop turn: the everyMs trigger checkpoints during iterate over a large array", async () => {
  await withDir(async (dir) => {
    const source = big();
    await using loop = await StatefulLoop.open(dir, {
      checkpoint: { everyMs: 5, atEnd: false, afterFlush: false },
    });
    const s = loop.bindObjectState({ sum: 0 }, { name: "s", keys: ["sum"] });
    for await (const x of loop.items(source)) s.sum += x;
    assert.ok(loop.checkpoints >= 1, `${loop.checkpoints} time-triggered checkpoints`);
  });
});
