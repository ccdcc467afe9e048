/**
 * `StatefulLoop.open(store)` and `pipeline.run({ store })` on a store the caller opened: a
 * `NatsStorage` store against a real nats-server (checkpoints, resume from a second connection as
 * another machine would, retention), and the ownership rules on a directory store (the loop never
 * closes a store it did not open; a read-only store is refused).
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "../src/errors.ts";
import { LoopCheckpointError, StatefulLoop } from "../src/loop/mod.ts";
import { Pipeline } from "../src/pipeline/mod.ts";
import { jsonState, LatestStatesKeeper, NatsStorage, StateStore } from "../src/state/mod.ts";
import type { StateStoreOptions } from "../src/state/store_options.ts";
import { startNatsServer } from "./nats/server.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A store on a fresh connection to `url` (each call: what another machine would open). */
async function natsStore(url: string, bucket: string, options: StateStoreOptions = {}) {
  return StateStore.withStorage(await NatsStorage.connect({ servers: url, bucket }), options);
}

/** Run the loop over 0..n-1 summing into state `agg`; stop (break) after `stopAfter` items. */
async function runLoop(
  store: StateStore,
  n: number,
  stopAfter: number,
  options: { keep?: number } = {},
): Promise<{ loop: StatefulLoop; agg: { sum: number; count: number } }> {
  const loop = await StatefulLoop.open(store, {
    checkpoint: { everyItems: 10, everyMs: false },
    ...options,
  });
  const agg = loop.state("agg", { sum: 0, count: 0 });
  let seen = 0;
  for await (const i of loop.items(range(n))) {
    agg.sum += i * i;
    agg.count++;
    if (++seen === stopAfter) break; // this item is not completed: resume redoes it
  }
  return { loop, agg };
}

Deno.test("nats loop store: a loop over a NatsStorage store checkpoints, and a loop on a second connection resumes it exactly", async () => {
  await using server = await startNatsServer();
  const n = 95;
  {
    await using store = await natsStore(server.url, "loop1");
    const { loop, agg } = await runLoop(store, n, 37);
    assert.equal(loop.path, "nats:loop1");
    assert.equal(loop.checkpoints, 3); // after 10, 20, 30 items
    await loop.close();
    assert.deepEqual(store.names, []); // the loop's component is gone, the store is open
    const latest = await store.latest();
    assert.deepEqual(latest?.meta, { position: 30 });
    assert.equal(agg.count, 37);
  }
  // "Another machine": a new connection, a new store, the same bucket.
  await using store = await natsStore(server.url, "loop1");
  const { loop, agg } = await runLoop(store, n, -1);
  assert.ok(loop.resumed);
  assert.equal(loop.position, n);
  await loop.close();
  assert.deepEqual(agg, {
    sum: range(n).reduce((a, i) => a + i * i, 0),
    count: n,
  });
  // Without `keep` and without a keeper of the store: every checkpoint stays.
  assert.deepEqual((await store.list()).map((s) => s.sequence), range(10).map((i) => i + 1));
});

Deno.test("nats loop store: keep prunes a store the caller opened; without keep the store's own keeper applies", async () => {
  await using server = await startNatsServer();
  {
    await using store = await natsStore(server.url, "keep2");
    const { loop } = await runLoop(store, 60, -1, { keep: 2 });
    await loop.close();
    assert.equal(loop.checkpoints, 7); // 6 every-10 checkpoints and the one at the end
    assert.deepEqual((await store.list()).map((s) => s.sequence), [6, 7]);
  }
  await using store = await natsStore(server.url, "keeper3", {
    keeper: new LatestStatesKeeper(3),
  });
  const { loop } = await runLoop(store, 60, -1);
  await loop.close();
  assert.deepEqual((await store.list()).map((s) => s.sequence), [5, 6, 7]);
});

Deno.test("nats loop store: components the caller registered ride along in every loop checkpoint", async () => {
  await using server = await startNatsServer();
  {
    await using store = await natsStore(server.url, "ride");
    const side = store.register("side", jsonState({ note: "" }));
    const loop = await StatefulLoop.open(store, { checkpoint: { everyItems: 5, everyMs: false } });
    for await (const i of loop.items(range(12))) {
      side.value.note = `at ${i}`;
      if (i === 7) break;
    }
    await loop.close();
  }
  await using store = await natsStore(server.url, "ride");
  const side = store.register("side", jsonState({ note: "" }));
  const loop = await StatefulLoop.open(store);
  assert.equal(loop.position, 5);
  assert.equal(side.value.note, "at 4"); // saved with position 5, not later
  await loop.close();
});

Deno.test("loop store: a store the caller opened is not closed by the loop, a failed open leaves it usable, a read-only one is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using store = new StateStore(dir);
    {
      await using loop = await StatefulLoop.open(store);
      for await (const _ of loop.items([1, 2])) { /* consume */ }
    }
    assert.deepEqual(store.names, []);
    assert.equal((await store.list()).length, 1); // still open: list and save work
    // A snapshot of something else: the open fails, the store stays open without the component.
    const other = await Deno.makeTempDir();
    try {
      await using foreign = new StateStore(other);
      foreign.register("x", jsonState(1));
      await foreign.save();
      await assert.rejects(StatefulLoop.open(foreign), LoopCheckpointError);
      assert.deepEqual(foreign.names, ["x"]);
      await foreign.save();
    } finally {
      await Deno.remove(other, { recursive: true });
    }
    await using reader = new StateStore(dir, { readOnly: true });
    await assert.rejects(StatefulLoop.open(reader), (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.match(error.message, /read-only/);
      return true;
    });
    await assert.rejects(StatefulLoop.open(42 as never), /a non-empty string or a StateStore/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A stateful running sum; `onItem` sees each count (the first run stops itself with it). */
function sumPipeline(onItem: (n: number) => void = () => {}): Pipeline {
  const p = new Pipeline({ buffer: 4 });
  p.source("s");
  p.node("sum", {
    inputs: ["s"],
    state: { total: 0, n: 0 },
    fn: (st: { total: number; n: number }, x: number) => {
      st.total += x;
      st.n++;
      onItem(st.n);
      return `${st.n}:${st.total}`;
    },
  });
  return p;
}

Deno.test("nats loop store: a pipeline run checkpoints to a NatsStorage store and a second run (another connection) resumes from it", async () => {
  await using server = await startNatsServer();
  const n = 80;
  const ref = await sumPipeline().runToCompletion({ s: range(n) });
  const got = new Map<number, unknown>();
  {
    await using store = await natsStore(server.url, "pipe");
    // stop() (it takes a checkpoint) from inside the node, so the run cannot finish first.
    const stopAt = (count: number) => count === 33 && void run.stop();
    const run = sumPipeline(stopAt).run({ s: range(n) }, {
      store,
      checkpointEvery: { items: 5 },
    });
    for await (const { value, seq } of run.entries("sum")) got.set(seq, value);
    await run.done;
    assert.ok(got.size < n, `the first run did all ${got.size} items`);
    assert.ok((await store.list()).length >= 2);
  }
  await using store = await natsStore(server.url, "pipe");
  const run = sumPipeline().run({ s: range(n) }, { store, checkpointEvery: { items: 5 } });
  let resumedAt = -1;
  for await (const { value, seq } of run.entries("sum")) {
    if (resumedAt < 0) resumedAt = seq;
    if (got.has(seq)) assert.equal(got.get(seq), value); // replayed after the checkpoint: same
    got.set(seq, value);
  }
  await run.done;
  assert.ok(run.resumedFrom !== undefined);
  assert.ok(resumedAt > 0 && resumedAt <= 33, `resumed at ${resumedAt}`);
  assert.deepEqual(range(n).map((i) => got.get(i)), ref.outputs.sum);
  assert.deepEqual(run.state("sum"), ref.states.sum);
});
