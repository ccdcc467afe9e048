// A poison input over the NATS pool: the input kills (SIGKILL) every worker process that takes
// it. A supervisor in the test restarts workers as they die. The task is delivered at most
// `maxDeliveries` times: its chunk is then split and its inputs go again one per task, and the
// poison input alone fails with a DeliveryLimitError, per the map's error policy. Every other
// input gets its normal result.
import assert from "node:assert/strict";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { DeliveryLimitError } from "../src/pool/nats/errors.ts";
import { type Settled, TaskError } from "../src/pool/mod.ts";
import { connectNats } from "../src/pool/nats/client.ts";
import { startServer, supervise } from "./nats_pool_helpers.ts";

const POISON = 13;
const INPUTS = Array.from({ length: 30 }, (_, i) => i);

async function poolWithWorkers(server: { url: string }, name: string) {
  const pool = await NatsPool.start({
    servers: server.url,
    pool: name,
    size: 2,
    ackWaitMs: 500,
    maxDeliveries: 3,
  });
  const workers = supervise(server.url, name, 2, { factor: 2, killOn: POISON });
  return { pool, workers };
}

Deno.test('a poison input that kills every worker fails alone with a DeliveryLimitError after maxDeliveries (errors: "collect"); its chunk neighbours and the rest succeed', async () => {
  await using server = await startServer();
  const { pool, workers } = await poolWithWorkers(server, "poison");
  try {
    const got: Settled<number, number>[] = [];
    const it = pool.map(INPUTS, { errors: "collect", chunkSize: 4 });
    for await (const r of it as AsyncIterable<Settled<number, number>>) got.push(r);
    assert.deepEqual(got.map((r) => r.index), INPUTS);
    for (const r of got) {
      if (r.input === POISON) {
        assert.ok(!r.ok && r.error.cause instanceof DeliveryLimitError, JSON.stringify(r));
        assert.match(r.error.cause.message, /delivered 3 times/);
      } else if (r.input % 7 === 3) assert.ok(!r.ok && r.error.cause instanceof RangeError);
      else assert.ok(r.ok && r.value === r.input * 2, `input ${r.input}: ${JSON.stringify(r)}`);
    }
    // 3 deliveries of its chunk of 4, then 3 of the input alone: 6 workers died.
    assert.equal(workers.deaths, 6);
  } finally {
    await workers.stop();
    await pool.close(); // waits for the given-up tasks to be deleted
  }
  // The two given-up tasks (the chunk, then the input alone) left the work queue.
  await using watcher = await connectNats({ servers: server.url });
  assert.equal((await watcher.jsm.streams.info("spool_poison_tasks")).state.messages, 0);
});

Deno.test('errors "throw": the map ends with the poison input\'s TaskError (cause DeliveryLimitError) after maxDeliveries', async () => {
  await using server = await startServer();
  const { pool, workers } = await poolWithWorkers(server, "poison_throw");
  try {
    const out: number[] = [];
    const inputs = INPUTS.filter((x) => x % 7 !== 3);
    await assert.rejects(
      async () => {
        for await (const y of pool.map(inputs)) out.push(y as number);
      },
      (e: unknown) => {
        assert.ok(e instanceof TaskError, String(e));
        assert.equal(e.index, inputs.indexOf(POISON));
        assert.ok(e.cause instanceof DeliveryLimitError);
        return true;
      },
    );
    assert.deepEqual(out, inputs.filter((x) => x < POISON).map((x) => x * 2));
  } finally {
    await workers.stop();
    await pool.close();
  }
});
