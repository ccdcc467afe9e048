// timeoutMs over the NATS pool, both paths the remote worker can keep: an asynchronous input that
// overruns fails with a TimeoutError while the worker moves on; a synchronous input that blocks
// its worker stops the progress acks, is redelivered after ack_wait to the next worker, and fails
// with a DeliveryLimitError once maxDeliveries deliveries stalled.
import assert from "node:assert/strict";
import { TimeoutError } from "../src/errors.ts";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { DeliveryLimitError } from "../src/pool/nats/errors.ts";
import type { Settled } from "../src/pool/mod.ts";
import { startServer, startWorker } from "./nats_pool_helpers.ts";

const INPUTS = Array.from({ length: 12 }, (_, i) => i);

async function collect(it: AsyncIterable<unknown>): Promise<Settled<number, number>[]> {
  const out = [];
  for await (const r of it) out.push(r as Settled<number, number>);
  return out;
}

/** Every input but `special` has its normal result (x * 2, or the fixture's RangeError). */
function assertOthers(got: Settled<number, number>[], special: number): void {
  assert.deepEqual(got.map((r) => r.index), INPUTS);
  for (const r of got) {
    if (r.input === special) continue;
    if (r.input % 7 === 3) assert.ok(!r.ok && r.error.cause instanceof RangeError);
    else assert.ok(r.ok && r.value === r.input * 2, `input ${r.input}: ${JSON.stringify(r)}`);
  }
}

Deno.test("timeoutMs: an async input that overruns fails with a TimeoutError and the worker moves on to the next inputs", async () => {
  await using server = await startServer();
  await using pool = await NatsPool.start({ servers: server.url, pool: "timeout", size: 1 });
  // One worker taking one task at a time: the inputs after the overrun can only run on it.
  await using worker = await startWorker(server.url, "timeout", {
    index: 0,
    concurrency: 1,
    args: { factor: 2, stallOn: 5, stallMs: 30_000 },
  });
  const got = await collect(pool.map(INPUTS, { errors: "collect", timeoutMs: 300 }));
  assertOthers(got, 5);
  const r = got[5]!;
  assert.ok(!r.ok && r.error.cause instanceof TimeoutError, JSON.stringify(r));
  assert.match(r.error.cause.message, /timeoutMs/);
  await worker.kill(); // its overrun timer would keep it alive for 30 s
});

Deno.test("timeoutMs: a synchronous input that blocks its worker is redelivered after ack_wait and fails with a DeliveryLimitError after maxDeliveries; the other inputs run on the other worker", async () => {
  await using server = await startServer();
  await using pool = await NatsPool.start({
    servers: server.url,
    pool: "blocked",
    size: 1,
    ackWaitMs: 500,
    maxDeliveries: 2,
  });
  const args = { factor: 2, blockOn: 5, blockMs: 30_000 };
  // Two deliveries block two workers; the third serves the rest.
  const workers = [];
  for (let i = 0; i < 3; i++) {
    workers.push(
      await startWorker(server.url, "blocked", { index: i, concurrency: 1, args, ackWaitMs: 500 }),
    );
  }
  try {
    const got = await collect(pool.map(INPUTS, { errors: "collect", timeoutMs: 300 }));
    assertOthers(got, 5);
    const r = got[5]!;
    assert.ok(!r.ok && r.error.cause instanceof DeliveryLimitError, JSON.stringify(r));
    assert.match(r.error.cause.message, /delivered 2 times/);
  } finally {
    for (const w of workers) await w.kill(); // the blocked ones cannot handle SIGTERM
  }
});
