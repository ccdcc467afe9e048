// The NATS pool backend end to end: a private nats-server, remote worker processes started with
// src/pool/nats/remote_worker_main.ts, and a NatsPool coordinator in this process.
import assert from "node:assert/strict";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { WorkerPool } from "../src/pool/mod.ts";
import type { PoolMapOptions, Settled } from "../src/pool/mod.ts";
import { withTempDir } from "./temp_dir.ts";
import { startServer, startWorker } from "./nats_pool_helpers.ts";

const MODULE = new URL("./fixtures/nats_pool_worker.ts", import.meta.url);
const INPUTS = Array.from({ length: 40 }, (_, i) => i);

/** A settled result without the worker index (it differs between backends). */
function plain(r: Settled<number, number>) {
  if (r.ok) return { ok: true, index: r.index, input: r.input, value: r.value };
  const cause = r.error.cause as Error;
  return { ok: false, index: r.index, input: r.input, error: `${cause.name}: ${cause.message}` };
}

async function collect(
  it: AsyncIterable<unknown>,
): Promise<ReturnType<typeof plain>[]> {
  const out = [];
  for await (const r of it) out.push(plain(r as Settled<number, number>));
  return out;
}

const CASES: { name: string; options: PoolMapOptions }[] = [
  { name: "ordered", options: { errors: "collect" } },
  { name: "unordered, chunks of 3", options: { errors: "collect", ordered: false, chunkSize: 3 } },
];

Deno.test("a map over 2 remote workers gives the results of the same map over threads (ordered and unordered, errors collected)", async () => {
  const expected: ReturnType<typeof plain>[][] = [];
  {
    await using threads = await WorkerPool.start({ module: MODULE, size: 2, init: { factor: 3 } });
    for (const c of CASES) expected.push(await collect(threads.map(INPUTS, c.options)));
  }
  await using server = await startServer();
  await using pool = await NatsPool.start({ servers: server.url, pool: "same", size: 4 });
  const w0 = await startWorker(server.url, "same", { index: 0, args: { factor: 3 } });
  const w1 = await startWorker(server.url, "same", { index: 1, args: { factor: 3 } });
  await using _w0 = w0;
  await using _w1 = w1;
  for (let k = 0; k < CASES.length; k++) {
    const got = await collect(pool.map(INPUTS, CASES[k]!.options));
    const sort = (a: ReturnType<typeof plain>[]) => [...a].sort((x, y) => x.index - y.index);
    if (CASES[k]!.options.ordered === false) assert.deepEqual(sort(got), sort(expected[k]!));
    else assert.deepEqual(got, expected[k]);
  }
  assert.ok(expected[0]!.some((r) => !r.ok), "the fixture fails some inputs");
  // SIGTERM: no new pulls, tasks held finish, dispose, exit 0.
  assert.equal((await w0.stop()).code, 0);
  assert.equal((await w1.stop()).code, 0);
});

Deno.test("a remote worker SIGKILLed mid-task: its task is redelivered and the map completes with exactly one result per input", async () => {
  await withTempDir(async (dir) => {
    await using server = await startServer();
    await using pool = await NatsPool.start({
      servers: server.url,
      pool: "kill",
      size: 4,
      ackWaitMs: 1000, // redelivery after 1 s without an ack or a progress ack
    });
    const args = { factor: 3, hangDir: dir, hangOn: 5 };
    const workers = [
      await startWorker(server.url, "kill", { index: 0, args }),
      await startWorker(server.url, "kill", { index: 1, args }),
    ];
    await using _w0 = workers[0]!;
    await using _w1 = workers[1]!;
    const inputs = Array.from({ length: 20 }, (_, i) => i);
    const results = collect(pool.map(inputs, { errors: "collect" }));
    const pid = Number(await waitForFile(`${dir}/hang`));
    const victim = workers.findIndex((w) => w.pid === pid);
    assert.ok(victim >= 0, `the hang file names pid ${pid}, not one of the workers`);
    const killed = await workers[victim]!.kill();
    assert.equal(killed.signal, "SIGKILL");
    const got = await results;
    assert.deepEqual(got.map((r) => r.index), inputs);
    for (const r of got) {
      if (r.input % 7 === 3) assert.equal(r.error, `RangeError: bad input ${r.input}`);
      else assert.equal(r.value, r.input * 3);
    }
    assert.equal((await workers[1 - victim]!.stop()).code, 0);
  });
});

/** The content of `path` once it exists and is not empty. */
async function waitForFile(path: string): Promise<string> {
  for (;;) {
    try {
      const text = await Deno.readTextFile(path);
      if (text !== "") return text;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
}
