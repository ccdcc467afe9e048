/**
 * Cross-stage stream tests: a realistic chain (file lines → NDJSON → concurrent map → batch
 * → progress) must deliver everything in order, and an early stop anywhere must unwind every
 * stage down to the file (the resource sanitizer fails the test if the file stays open).
 */
import assert from "node:assert/strict";
import {
  batch,
  filter,
  lines,
  map,
  merge,
  ndjson,
  prefetch,
  progress,
  tee,
  writeNdjson,
} from "../src/stream/mod.ts";
import { collect, endless, timerTracker, tracked } from "./stream_helpers.ts";

async function sensorFile(n: number): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "spool-pipeline-", suffix: ".ndjson" });
  await writeNdjson(
    path,
    (function* () {
      for (let i = 0; i < n; i++) yield { id: i, t: 1_700_000_000 + i, value: (i * 37) % 101 };
    })(),
  );
  return path;
}

Deno.test("file → ndjson → prefetch → map(c=4) → filter → batch → progress, in order", async () => {
  using timers = timerTracker();
  const path = await sensorFile(5000);
  try {
    const out: string[] = [];
    type Reading = { id: number; t: number; value: number };
    const readings = prefetch(ndjson<Reading>(lines(path)), { size: 256 });
    const scaled = map(readings, (r) => Promise.resolve({ ...r, value: r.value * 2 }), {
      concurrency: 4,
    });
    const kept = filter(scaled, (r) => r.value % 2 === 0);
    const batches = batch(kept, { size: 1000, maxWaitMs: 50 });
    const ids: number[] = [];
    for await (const b of progress(batches, { output: (t) => out.push(t), label: "batches" })) {
      for (const r of b) ids.push(r.id);
    }
    assert.deepEqual(ids, Array.from({ length: 5000 }, (_, i) => i));
    assert.match(out.at(-1)!, /^batches: done, \d+ items/);
    assert.equal(timers.live, 0);
  } finally {
    await Deno.remove(path);
  }
});

// Deno 2.9's op and resource sanitizers are off unless asked for (flag or option): ask here.
Deno.test({
  name: "an early break at the end of a long chain closes the file at its start",
  sanitizeOps: true,
  sanitizeResources: true,
}, async () => {
  using timers = timerTracker();
  const path = await sensorFile(20_000);
  try {
    const chain = progress(
      batch(
        map(
          prefetch(ndjson<{ id: number }>(lines(path, { chunkSize: 1024 })), { size: 64 }),
          (r) => r.id,
          { concurrency: 8, ordered: false },
        ),
        { size: 10, maxWaitMs: 1000 },
      ),
      { output: () => {} },
    );
    let n = 0;
    for await (const _ of chain) if (++n === 3) break;
    assert.equal(timers.live, 0);
    // leaving this test with the file still open fails it (resource sanitizer)
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("tee + merge: two branches transformed differently and merged back", async () => {
  const [src, track] = tracked(200);
  const [a, b] = tee(src, 2, { capacity: 16 });
  const merged = merge(
    map(a!, (x) => ({ kind: "a", x }), { concurrency: 2 }),
    map(b!, (x) => Promise.resolve({ kind: "b", x: x * 2 }), { concurrency: 3, ordered: false }),
  );
  const all = await collect(merged);
  assert.equal(all.length, 400);
  assert.deepEqual(
    all.filter((r) => r.kind === "a").map((r) => r.x),
    Array.from({ length: 200 }, (_, i) => i),
  );
  assert.equal(track.finished, true);
  const [src2, track2] = endless();
  const [c, d] = tee(src2, 2, { capacity: 4 });
  for await (const _ of merge(c!, d!)) break;
  assert.equal(track2.returned, true, "breaking the merge returned both branches, then the source");
});
