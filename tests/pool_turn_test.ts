// Control always works with the pool: the main side keeps timers running while it dispatches a
// synchronous source, and a worker serving a long synchronous chunk lets `stop` land between
// items (so close() disposes of its state instead of terminating it after the close timeout).
import assert from "node:assert/strict";
import { ClosedError } from "../src/errors.ts";
import { WorkerPool } from "../src/pool/mod.ts";

Deno.test("pool turn: a timer fires while pool.map dispatches a synchronous source", async () => {
  await using pool = await WorkerPool.start({
    module: new URL("./fixtures/pool_worker.ts", import.meta.url),
    size: 2,
    init: { procId: 1 },
  });
  const N = 100_000;
  const source = Array.from({ length: N }, (_, i) => i);
  let n = 0;
  let firstTickAt = -1;
  const id = setInterval(() => {
    if (firstTickAt < 0) firstTickAt = n;
  }, 5);
  try {
    for await (const _ of pool.map(source, { chunkSize: 64 })) n++;
  } finally {
    clearInterval(id);
  }
  assert.equal(n, N);
  assert.ok(firstTickAt >= 0 && firstTickAt < N, `first tick at result ${firstTickAt} of ${N}`);
});

Deno.test("pool turn: close() during a long synchronous chunk disposes of the worker's state", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-pool-turn-" });
  try {
    const marker = `${dir}/disposed`;
    const pool = await WorkerPool.start({
      module: new URL("./fixtures/pool_busy_worker.ts", import.meta.url),
      size: 1,
      init: { marker },
      closeTimeoutMs: 1000,
    });
    // One chunk of 2000 items of 2 ms each: 4 s of synchronous work in the worker.
    const items = new Array(2000).fill(2);
    const consuming = (async () => {
      for await (const _ of pool.map(items, { chunkSize: 2000 })) { /* none before close */ }
    })();
    const failed = assert.rejects(consuming, ClosedError);
    // Let the worker get well into the chunk.
    await new Promise((r) => setTimeout(r, 300));
    await pool.close();
    await failed;
    const served = Number(await Deno.readTextFile(marker).catch(() => "-1"));
    assert.ok(served > 0 && served < items.length, `dispose saw ${served} items served`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pool turn: a timer fires while pool.map fills a large window from an in-memory async source", async () => {
  await using pool = await WorkerPool.start({
    module: new URL("./fixtures/pool_worker.ts", import.meta.url),
    size: 1,
    init: { procId: 1 },
  });
  const N = 300_000;
  let pulled = 0;
  async function* source() {
    for (let i = 0; i < N; i++) {
      pulled++;
      yield i;
    }
  }
  let pulledAtTick = -1;
  const id = setInterval(() => {
    if (pulledAtTick < 0) pulledAtTick = pulled;
  }, 5);
  let n = 0;
  try {
    for await (const _ of pool.map(source(), { chunkSize: 1000, maxInFlight: N })) n++;
  } finally {
    clearInterval(id);
  }
  assert.equal(n, N);
  assert.ok(pulledAtTick >= 0 && pulledAtTick < N, `first tick after ${pulledAtTick} pulls`);
});

Deno.test("pool turn: a timer fires while pool.map fills a window of 1e6 from a sync generator", async () => {
  await using pool = await WorkerPool.start({
    module: new URL("./fixtures/pool_worker.ts", import.meta.url),
    size: 1,
    init: { procId: 1 },
  });
  const N = 1_000_000;
  let pulled = 0;
  function* source() {
    for (let i = 0; i < N; i++) {
      pulled++;
      yield i;
    }
  }
  // Without turns, the whole window is pulled in one synchronous call: the first tick sees N.
  let pulledAtTick = -1;
  const id = setInterval(() => {
    if (pulledAtTick < 0 && pulled > 0) pulledAtTick = pulled;
  }, 1);
  try {
    for await (const _ of pool.map(source(), { chunkSize: 1000, maxInFlight: N })) {
      if (pulledAtTick >= 0) break;
    }
  } finally {
    clearInterval(id);
  }
  assert.ok(
    pulledAtTick > 0 && pulledAtTick < N,
    `first tick after ${pulledAtTick} of ${N} pulled`,
  );
});
