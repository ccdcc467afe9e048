// The NATS pool across a nats-server SIGKILL and restart on the same store: tasks and results
// are on JetStream streams (file storage), the workers retry a result publish and ack the task
// after its PubAck, the coordinator's per-map consumer reads on after the reconnect. The map
// completes with every input exactly once, in order.
import assert from "node:assert/strict";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import type { Settled } from "../src/pool/mod.ts";
import { connectNats } from "../src/pool/nats/client.ts";
import { startServer, startWorker } from "./nats_pool_helpers.ts";

Deno.test("nats-server SIGKILLed and restarted mid-map: the ordered map completes, every input once, in order, nothing lost or doubled", async () => {
  await using server = await startServer();
  await using pool = await NatsPool.start({
    servers: server.url,
    pool: "restart",
    size: 4,
    ackWaitMs: 2000,
  });
  const args = { factor: 3, sleepMs: 1 };
  await using w0 = await startWorker(server.url, "restart", { index: 0, args });
  await using w1 = await startWorker(server.url, "restart", { index: 1, args });
  const n = 3000;
  const inputs = Array.from({ length: n }, (_, i) => i);
  const got: Settled<number, number>[] = [];
  let restarted: Promise<void> | undefined;
  for await (
    const r of pool.map(inputs, { errors: "collect" }) as AsyncIterable<Settled<number, number>>
  ) {
    got.push(r);
    if (got.length === 500) {
      restarted = (async () => {
        await server.kill(); // SIGKILL: what the server holds stays in its store only
        await new Promise((r) => setTimeout(r, 300));
        await server.restart();
      })();
    }
  }
  assert.ok(restarted !== undefined, "the server was killed mid-map");
  await restarted;
  assert.deepEqual(got.map((r) => r.index), inputs, "every input once, in order");
  for (const r of got) {
    if (r.input % 7 === 3) assert.ok(!r.ok && r.error.cause instanceof RangeError);
    else assert.ok(r.ok && r.value === r.input * 3, `input ${r.input}: ${JSON.stringify(r)}`);
  }
  assert.equal((await w0.stop()).code, 0);
  assert.equal((await w1.stop()).code, 0);
});

Deno.test("a map that ended leaves nothing on the result stream: its consumer is deleted, its results acknowledged (work-queue retention removed them)", async () => {
  await using server = await startServer();
  await using pool = await NatsPool.start({ servers: server.url, pool: "tidy", size: 2 });
  await using worker = await startWorker(server.url, "tidy", { index: 0, args: { factor: 1 } });
  const watcher = await connectNats({ servers: server.url });
  try {
    const results = () => watcher.jsm.streams.info("spool_tidy_results").then((i) => i.state);
    const got = [];
    for await (const y of pool.map([1, 2, 4, 5], { chunkSize: 1 })) {
      got.push(y);
      if (got.length === 1) assert.equal((await results()).consumer_count, 1, "one per map");
    }
    assert.deepEqual(got, [1, 2, 4, 5]);
    await pool.close(); // waits for the map's consumer to be deleted
    const state = await results();
    assert.equal(state.consumer_count, 0);
    assert.equal(state.messages, 0);
  } finally {
    await watcher.close();
  }
  assert.equal((await worker.stop()).code, 0);
});
