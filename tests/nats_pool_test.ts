// The NATS pool backend end to end: a private nats-server, remote worker processes started with
// src/pool/nats/remote_worker_main.ts, and a NatsPool coordinator in this process.
import assert from "node:assert/strict";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { TaskError, WorkerPool } from "../src/pool/mod.ts";
import { ClosedError } from "../src/errors.ts";
import type { PoolMapOptions, Settled } from "../src/pool/mod.ts";
import { withTempDir } from "./temp_dir.ts";
import type fixture from "./fixtures/nats_pool_worker.ts";
import { connectNats, headers } from "../src/pool/nats/client.ts";
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
  await using pool = await NatsPool.start<typeof fixture>({
    servers: server.url,
    pool: "same",
    size: 4,
  });
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
    const args = { factor: 3, dir, hangOn: 5 };
    const workers = [
      await startWorker(server.url, "kill", { index: 0, args }),
      await startWorker(server.url, "kill", { index: 1, args }),
    ];
    await using _w0 = workers[0]!;
    await using _w1 = workers[1]!;
    const inputs = Array.from({ length: 20 }, (_, i) => i);
    const results = background(collect(pool.map(inputs, { errors: "collect" })));
    const pid = Number(await waitForFile(`${dir}/hang`, results));
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

Deno.test("SIGTERM stops a remote worker gracefully: the task it holds finishes and is acknowledged, dispose runs, exit 0", async () => {
  await withTempDir(async (dir) => {
    await using server = await startServer();
    await using pool = await NatsPool.start({ servers: server.url, pool: "term", size: 2 });
    await using worker = await startWorker(server.url, "term", {
      index: 0,
      args: { factor: 2, dir, holdOn: 1 },
    });
    const results = background(collect(pool.map([0, 1, 2], { errors: "collect", chunkSize: 1 })));
    await waitForFile(`${dir}/held`, results);
    const stopped = worker.stop(); // SIGTERM while input 1 is held
    await Deno.writeTextFile(`${dir}/disposed-0`, "not yet");
    await Deno.writeTextFile(`${dir}/release`, "");
    assert.equal((await stopped).code, 0);
    assert.equal(await Deno.readTextFile(`${dir}/disposed-0`), "", "dispose ran");
    // Whatever the worker did not take before the stop waits in the stream for the next worker.
    await using next = await startWorker(server.url, "term", { index: 1, args: { factor: 2 } });
    const got = await results;
    assert.deepEqual(got.map((r) => [r.index, r.value]), [[0, 0], [1, 2], [2, 4]]);
    assert.equal(pool.duplicates, 0);
    assert.equal((await next.stop()).code, 0);
  });
});

Deno.test('errors "throw" ends a remote map with the worker\'s TaskError (index, input, cause)', async () => {
  await using server = await startServer();
  await using pool = await NatsPool.start({ servers: server.url, pool: "throw", size: 2 });
  await using worker = await startWorker(server.url, "throw", { index: 4, args: { factor: 1 } });
  const out: unknown[] = [];
  await assert.rejects(
    async () => {
      for await (const y of pool.map([0, 1, 2, 3, 4])) out.push(y);
    },
    (e: TaskError) => {
      assert.ok(e instanceof TaskError);
      assert.equal(e.index, 3);
      assert.equal(e.workerIndex, 4);
      assert.ok(e.cause instanceof RangeError && e.cause.message === "bad input 3");
      return true;
    },
  );
  // "throw" stops at once: the results of 1 and 2 may arrive in the same batch as the failure of
  // 3 and be dropped with the map (as with WorkerPool), so what came out is a prefix of [0, 1, 2].
  assert.deepEqual(out, [0, 1, 2].slice(0, out.length));
  assert.equal((await worker.stop()).code, 0);
});

Deno.test("spread, passThrough and an input that cannot be serialized behave as in WorkerPool.map", async () => {
  await using server = await startServer();
  await using pool = await NatsPool.start({ servers: server.url, pool: "opts", size: 2 });
  await using worker = await startWorker(server.url, "opts", { index: 0, args: { factor: 10 } });
  await using threads = await WorkerPool.start({ module: MODULE, size: 1, init: { factor: 10 } });
  // The same calls on both pools (NatsPool.map is untyped: WorkerPool.map is used through it).
  const run = async (map: NatsPool["map"]) => {
    const inputs: unknown[] = [1, "mark", () => 0, 2];
    const got = [];
    for await (
      const r of map(inputs, {
        errors: "collect",
        passThrough: (x) => typeof x === "string",
      }) as AsyncIterable<Settled<number, unknown, unknown>>
    ) got.push(r.ok ? r.value : `${r.error.name}(${(r.error.cause as Error).name})`);
    for await (const y of map([[1], [2]], { spread: true })) got.push(y);
    return got;
  };
  const expected = [10, "mark", "TaskError(CloneError)", 20, 10, 20];
  assert.deepEqual(await run(threads.map.bind(threads) as NatsPool["map"]), expected);
  assert.deepEqual(await run(pool.map.bind(pool)), expected);
  assert.equal((await worker.stop()).code, 0);
});

Deno.test("closing a NatsPool fails its active maps with a ClosedError, and a new map is refused", async () => {
  await using server = await startServer();
  const pool = await NatsPool.start({ servers: server.url, pool: "close", size: 1 });
  const it = pool.map([1, 2, 3]); // no worker: nothing comes back
  const first = assert.rejects(it.next(), ClosedError);
  await pool.close();
  await first;
  assert.throws(() => pool.map([1]), ClosedError);
});

Deno.test("a result delivered twice is kept once: one result per input, the copies counted as duplicates", async () => {
  await withTempDir(async (dir) => {
    await using server = await startServer();
    await using pool = await NatsPool.start({ servers: server.url, pool: "dup", size: 4 });
    // A second client publishes a copy of every result right after the original, without its
    // publish dedup id (the stream would drop an exact copy): the pool's gate must drop it.
    const nats = await connectNats({ servers: server.url });
    const copier = nats.nc;
    let copied = 0;
    copier.subscribe("spool.dup.results.>", {
      callback: (err, msg) => {
        if (err !== null || msg.headers?.get("Spool-Copy") === "1") return;
        const h = headers();
        for (const [k, v] of msg.headers ?? []) if (k.startsWith("Spool-")) h.set(k, v[0]!);
        h.set("Spool-Copy", "1");
        copier.publish(msg.subject, msg.data, { headers: h });
        copied++;
      },
    });
    await copier.flush();
    try {
      await using worker = await startWorker(server.url, "dup", {
        index: 0,
        args: { factor: 2, dir, holdOn: 19 },
      });
      const inputs = Array.from({ length: 20 }, (_, i) => i);
      const results = background(collect(pool.map(inputs, { errors: "collect", chunkSize: 1 })));
      await waitForFile(`${dir}/held`, results);
      await waitFor(() => copied >= 19 || undefined, results);
      // The copies are at the server before input 19 is released: they reach the pool first.
      await copier.flush();
      await Deno.writeTextFile(`${dir}/release`, "");
      const got = await results;
      assert.deepEqual(got.map((r) => r.index), inputs);
      for (const r of got) if (r.ok) assert.equal(r.value, r.input * 2);
      assert.ok(pool.duplicates >= 19, `duplicates: ${pool.duplicates}`);
      assert.equal((await worker.stop()).code, 0);
    } finally {
      await nats.close();
    }
  });
});

Deno.test("a map that ends early leaves none of its tasks in the stream (they are purged)", async () => {
  await using server = await startServer();
  const watcher = await connectNats({ servers: server.url });
  try {
    const jsm = watcher.jsm;
    const pool = await NatsPool.start({ servers: server.url, pool: "purge", size: 2, depth: 4 });
    const it = pool.map(Array.from({ length: 100 }, (_, i) => i), { chunkSize: 1 });
    const first = it.next(); // no worker: the first size * depth chunks wait in the stream
    const stored = () => jsm.streams.info("spool_purge_tasks").then((i) => i.state.messages);
    while ((await stored()) < 8) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await stored(), 8);
    await it.return!();
    assert.deepEqual(await first, { value: undefined, done: true });
    await pool.close(); // waits for the purge
    assert.equal(await stored(), 0);
  } finally {
    await watcher.close();
  }
});

/** `p`, marked handled: a map failing early is reported where the test awaits it, not as an
 * unhandled rejection that would end the test module before its servers are stopped. */
function background<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/**
 * Poll `probe` until it gives a value. If `map` (a map's results) settles first, throw (its error
 * if it failed): a broken map then fails the test instead of hanging it.
 */
async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  map?: Promise<unknown>,
): Promise<T> {
  let ended = false;
  map?.then(() => (ended = true), () => (ended = true));
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (ended) {
      await map; // its error, if it failed
      throw new Error("the map ended before the awaited condition held");
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The content of `path` once it exists and is not empty (see {@linkcode waitFor}). */
function waitForFile(path: string, map: Promise<unknown>): Promise<string> {
  return waitFor(() => Deno.readTextFile(path).then((t) => t || undefined, () => undefined), map);
}
