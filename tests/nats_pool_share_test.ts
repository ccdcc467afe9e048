// Several maps on one NATS pool: they share the pool's in-flight budget (size * depth chunks)
// round-robin, so each makes progress while the other runs. insights() reports each remote
// worker that answered (index plus a per-process id), with its tasks, chunks, busy time and the
// time it was last seen.
import assert from "node:assert/strict";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { InvalidArgumentError } from "../src/errors.ts";
import { startServer, startWorker } from "./nats_pool_helpers.ts";

const INPUTS = Array.from({ length: 40 }, (_, i) => i * 7 + 1); // none fails (x % 7 !== 3)

Deno.test("two concurrent maps on one pool both make progress before either finishes (round-robin publishing)", async () => {
  await using server = await startServer();
  await using pool = await NatsPool.start({
    servers: server.url,
    pool: "share",
    size: 1,
    depth: 2,
  });
  await using worker = await startWorker(server.url, "share", {
    index: 0,
    concurrency: 1,
    args: { factor: 1, sleepMs: 5 },
  });
  const events: string[] = [];
  const run = async (name: string) => {
    const out = [];
    for await (const y of pool.map(INPUTS, { chunkSize: 1 })) {
      out.push(y);
      events.push(name);
    }
    return out;
  };
  const [a, b] = await Promise.all([run("a"), run("b")]);
  assert.deepEqual(a, INPUTS);
  assert.deepEqual(b, INPUTS);
  const firstB = events.indexOf("b");
  const firstA = events.indexOf("a");
  assert.ok(firstB < events.lastIndexOf("a"), `b waited for a to finish: ${events.join("")}`);
  assert.ok(firstA < events.lastIndexOf("b"), `a waited for b to finish: ${events.join("")}`);
  // Fair means interleaved throughout, not one burst each: in the first half, both are served.
  const firstHalf = events.slice(0, INPUTS.length);
  const share = firstHalf.filter((e) => e === "b").length / firstHalf.length;
  assert.ok(share > 0.25 && share < 0.75, `first half: ${firstHalf.join("")}`);
  assert.equal((await worker.stop()).code, 0);
});

Deno.test("insights() lists each remote worker process that answered: index, per-process id, tasks, chunks, busy time, last seen", async () => {
  await using server = await startServer();
  await using pool = await NatsPool.start({ servers: server.url, pool: "insights", size: 2 });
  assert.deepEqual(pool.insights(), []);
  assert.throws(() => pool.insights({ x: 1 } as never), InvalidArgumentError);
  const args = { factor: 1, sleepMs: 5 };
  const w0 = await startWorker(server.url, "insights", { index: 0, concurrency: 1, args });
  await using w1 = await startWorker(server.url, "insights", { index: 1, concurrency: 1, args });
  const before = Date.now();
  for await (const _ of pool.map(INPUTS, { chunkSize: 2 })) { /* run */ }
  const first = pool.insights();
  assert.deepEqual(first.map((w) => w.index), [0, 1], JSON.stringify(first));
  for (const w of first) {
    assert.match(w.id, new RegExp(`^${w.index}\\.[0-9a-f]{8}$`));
    assert.ok(w.tasks > 0 && w.tasks === 2 * w.chunks, JSON.stringify(w));
    assert.ok(w.busyMs > 0 && w.duplicates === 0, JSON.stringify(w));
    assert.ok(before <= w.firstSeen && w.firstSeen <= w.lastSeen && w.lastSeen <= Date.now());
  }
  assert.equal(first[0]!.tasks + first[1]!.tasks, INPUTS.length);
  // A new process with index 0 is another worker: its own entry, the old ones kept.
  assert.equal((await w0.stop()).code, 0);
  await using again = await startWorker(server.url, "insights", { index: 0, args });
  assert.equal((await w1.stop()).code, 0); // the next map runs on the new process only
  for await (const _ of pool.map(INPUTS.slice(0, 4))) { /* run */ }
  const second = pool.insights();
  assert.deepEqual(second.map((w) => w.index), [0, 0, 1]);
  const fresh = second.find((w) => w.index === 0 && w.id !== first[0]!.id)!;
  assert.equal(fresh.tasks, 4);
  assert.deepEqual(second.find((w) => w.id === first[0]!.id), first[0]);
  assert.equal((await again.stop()).code, 0);
});
