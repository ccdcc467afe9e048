/**
 * Keyed maps (`NatsPool.map(source, { key })`): a coordinator that dies (a child process,
 * SIGKILLed) mid-map or after its map ended (before it moved on), and the same keyed map run
 * again by another coordinator: every result once, no completed or queued chunk run again; a
 * result the dead run left for another input range is ignored (`stale`); a chunk the dead run
 * had given up (poison input) is found by its advisory, not waited for; a keyed map that ended
 * leaves nothing once its pool closes, and the next map with its key runs anew; bad keys and two
 * live maps with one key are InvalidArgumentErrors. Executions are counted by the recording
 * worker of tests/fixtures/nats_loop_worker.ts (worker deaths by the poison worker's supervisor).
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../src/errors.ts";
import { connectNats } from "../src/nats/connect.ts";
import { mapSettingsOf } from "../src/pool/map_options.ts";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { poolNames } from "../src/pool/nats/protocol.ts";
import { startNatsServer } from "./nats/server.ts";
import { supervise } from "./nats_pool_helpers.ts";
import { DeliveryLimitError } from "../src/pool/nats/errors.ts";
import type { Settled } from "../src/pool/mod.ts";

const COORD = fileURLToPath(new URL("./fixtures/nats_pool_keyed_coord.ts", import.meta.url));
const WORKER_MODULE = new URL("./fixtures/nats_loop_worker.ts", import.meta.url).href;
const WORKER_MAIN = fileURLToPath(
  new URL("../src/pool/nats/remote_worker_main.ts", import.meta.url),
);
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const N = 40;

/** Lines of `stream`, each handed to `onLine` (return true to stop reading). */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => boolean | void,
): Promise<void> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n")) {
      if (onLine(text.slice(0, end)) === true) return;
      text = text.slice(end + 1);
    }
  }
}

/** A recording remote worker (x -> 3x after `delayMs`, each execution logged in `dir`). */
async function startRecordingWorker(url: string, pool: string, dir: string, delayMs: number) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      WORKER_MAIN,
      ...["--servers", url, "--pool", pool, "--module", WORKER_MODULE, "--concurrency", "2"],
      ...["--args", JSON.stringify({ dir, delayMs })],
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = readLines(child.stdout, (line) => line === "ready");
  await Promise.race([lines, child.status]);
  const drained = child.stdout.locked ? Promise.resolve() : child.stdout.cancel();
  return {
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
      await drained;
    },
  };
}

/** Run the keyed coordinator child; SIGKILL it once it printed `killAfter` results. */
async function killedCoordinator(
  url: string,
  pool: string,
  key: string,
  chunkSize: number,
  killAfter: number | "done",
  options?: Record<string, unknown>,
): Promise<number[]> {
  const hold = [killAfter === "done" ? "hold" : "go", JSON.stringify(options ?? {})];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", "--config", CONFIG, COORD],
      ...[url, pool, key, String(N), String(chunkSize), ...hold],
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const got: number[] = [];
  await readLines(child.stdout, (line) => {
    if (line.startsWith("r ")) got.push(Number(line.slice(2)));
    return killAfter === "done" ? line === "DONE" : got.length >= killAfter;
  });
  // After DONE, give a clean-up that should not happen (the map's results purged at its end)
  // the time to happen before the kill.
  if (killAfter === "done") await new Promise((r) => setTimeout(r, 500));
  child.kill("SIGKILL");
  await child.stdout.cancel().catch(() => {});
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL", "the coordinator finished before it was killed");
  return got;
}

/** How many times each input ran (the recording worker's logs). */
async function executions(dir: string): Promise<number[]> {
  const out = new Array<number>(N).fill(0);
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".log")) continue;
    for (const line of (await Deno.readTextFile(`${dir}/${e.name}`)).split("\n")) {
      if (line !== "") out[Number(line)]!++;
    }
  }
  return out;
}

/** Wait until the worker ran every input at least once and the task queue is empty. */
async function settled(url: string, pool: string, dir: string): Promise<number[]> {
  await using nats = await connectNats({ servers: url });
  const names = poolNames(pool);
  for (let i = 0; i < 200; i++) {
    const tasks = await nats.jsm.streams.info(names.stream);
    const consumer = await nats.jsm.consumers.info(names.stream, names.consumer);
    if (tasks.state.messages === 0 && consumer.num_ack_pending === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return await executions(dir);
}

const expected = Array.from({ length: N }, (_, i) => 3 * i);

/** A closed pool left nothing of its keyed maps: no task, result, marker or result consumer. */
async function assertNothingLeft(url: string, pool: string): Promise<void> {
  await using nats = await connectNats({ servers: url });
  const names = poolNames(pool);
  assert.equal((await nats.jsm.streams.info(names.resultStream)).state.messages, 0);
  assert.equal((await nats.jsm.streams.info(names.stream)).state.messages, 0);
  const consumers = await Array.fromAsync(nats.jsm.consumers.list(names.resultStream));
  assert.deepEqual(consumers.map((c) => c.name), []);
}

Deno.test("a coordinator SIGKILLed after its keyed map ended (before its checkpoint, the pool not closed): the same keyed map run again gets every result and runs nothing", async () => {
  await using server = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "spool-keyed-" });
  try {
    await using _worker = await startRecordingWorker(server.url, "ended", dir, 5);
    const before = await killedCoordinator(server.url, "ended", "batch-3", 2, "done");
    assert.deepEqual(before, expected);
    assert.deepEqual(await settled(server.url, "ended", dir), new Array(N).fill(1));
    {
      await using pool = await NatsPool.start({ servers: server.url, pool: "ended", size: 2 });
      const got = await Array.fromAsync(
        pool.map(expected.map((_, i) => i), { key: "batch-3", chunkSize: 2 }),
      );
      assert.deepEqual(got, expected);
      assert.equal(pool.duplicates, 0);
    }
    assert.deepEqual(await settled(server.url, "ended", dir), new Array(N).fill(1));
    await assertNothingLeft(server.url, "ended");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a keyed map run again after its coordinator was SIGKILLed mid-map gets every result once and runs no chunk again; the next map with the key starts anew", async () => {
  await using server = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "spool-keyed-" });
  try {
    await using _worker = await startRecordingWorker(server.url, "keyed", dir, 30);
    const before = await killedCoordinator(server.url, "keyed", "batch-7", 1, 8);
    assert.ok(before.length >= 8);
    {
      await using pool = await NatsPool.start({ servers: server.url, pool: "keyed", size: 2 });
      const got = await Array.fromAsync(pool.map(expected.map((_, i) => i), { key: "batch-7" }));
      assert.deepEqual(got, expected);
      assert.equal(pool.duplicates, 0);
      assert.equal(pool.stale, 0);
    }
    // Every input ran once: the dead run's queued and done chunks were neither stored nor run again.
    assert.deepEqual(await settled(server.url, "keyed", dir), new Array(N).fill(1));
    await assertNothingLeft(server.url, "keyed");
    // The next map with the key runs anew (within the dedup window: new names, not dropped
    // tasks), also on the same pool right after the previous one ended.
    {
      await using pool = await NatsPool.start({ servers: server.url, pool: "keyed", size: 2 });
      const inputs = expected.map((_, i) => i);
      assert.deepEqual(await Array.fromAsync(pool.map(inputs, { key: "batch-7" })), expected);
      assert.deepEqual(await settled(server.url, "keyed", dir), new Array(N).fill(2));
      assert.deepEqual(await Array.fromAsync(pool.map(inputs, { key: "batch-7" })), expected);
    }
    assert.deepEqual(await settled(server.url, "keyed", dir), new Array(N).fill(3));
    await assertNothingLeft(server.url, "keyed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a keyed map re-run with another chunking ignores the dead run's results for other input ranges (stale) and gives each input its own result", async () => {
  await using server = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "spool-keyed-" });
  try {
    await using _worker = await startRecordingWorker(server.url, "rechunk", dir, 20);
    const before = await killedCoordinator(server.url, "rechunk", "b 9/x", 4, 4);
    assert.ok(before.length >= 4);
    await using pool = await NatsPool.start({ servers: server.url, pool: "rechunk", size: 2 });
    const got = await Array.fromAsync(
      pool.map(expected.map((_, i) => i), { key: "b 9/x", chunkSize: 1 }),
    );
    assert.deepEqual(got, expected);
    assert.ok(pool.stale >= 1, `stale ${pool.stale}`);
    assert.equal(pool.duplicates, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad keys, and two live maps with one key on a pool, are InvalidArgumentErrors", async () => {
  for (const key of ["", 3, null, {}]) {
    assert.throws(
      () => mapSettingsOf("map", { key } as never, 1, 1),
      InvalidArgumentError,
    );
  }
  assert.equal(mapSettingsOf("map", { key: "batch-1" }, 1, 1).key, "batch-1");
  await using server = await startNatsServer();
  await using pool = await NatsPool.start({ servers: server.url, pool: "dup", size: 1 });
  assert.throws(() => pool.map([1], { key: "" }), InvalidArgumentError);
  const first = pool.map([1, 2], { key: "same" });
  const pending = first.next(); // started: the key is live (no worker: it waits)
  assert.throws(() => pool.map([3], { key: "same" }), InvalidArgumentError);
  // created before the first started, refused when it starts
  const early = pool.map([3], { key: "other" });
  const late = pool.map([4], { key: "other" });
  const e1 = early.next();
  await assert.rejects(() => late.next(), InvalidArgumentError);
  await first.return!();
  await early.return!();
  await pending;
  await e1;
  // once the first ended, the key is free again
  const again = pool.map([5], { key: "same" });
  await again.return!();
});

Deno.test("a keyed map re-run after its coordinator died takes the chunks the dead run had given up from their advisories (no wait, no task again): the poison input fails again, no worker dies again", async () => {
  await using server = await startNatsServer();
  const poison = 13;
  const workers = supervise(server.url, "kpoison", 2, { factor: 2, killOn: poison });
  try {
    const limits = { ackWaitMs: 500, maxDeliveries: 3 };
    const before = await killedCoordinator(server.url, "kpoison", "batch-1", 4, "done", {
      ...limits,
      collect: true,
    });
    assert.equal(before.length, N);
    // 3 deliveries of its chunk of 4, then 3 of the input alone
    assert.equal(workers.deaths, 6);
    await using pool = await NatsPool.start({ servers: server.url, pool: "kpoison", ...limits });
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 30_000); // a chunk waited for forever fails
    try {
      const it = pool.map(expected.map((_, i) => i), {
        key: "batch-1",
        chunkSize: 4,
        errors: "collect",
        signal: stop.signal,
      }) as AsyncIterable<Settled<number, number>>;
      const got = await Array.fromAsync(it);
      assert.deepEqual(got.map((r) => r.index), expected.map((_, i) => i));
      for (const r of got) {
        if (r.input === poison) {
          assert.ok(!r.ok && r.error.cause instanceof DeliveryLimitError, JSON.stringify(r));
        } else if (r.input % 7 === 3) assert.ok(!r.ok && r.error.cause instanceof RangeError);
        else assert.ok(r.ok && r.value === r.input * 2, `input ${r.input}: ${JSON.stringify(r)}`);
      }
    } finally {
      clearTimeout(timer);
    }
    assert.equal(workers.deaths, 6, "the poison input ran again");
  } finally {
    await workers.stop();
  }
});
