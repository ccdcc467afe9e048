// Bodies over the server's max_payload (src/pool/nats/large_payload.ts): a nats-server with a
// 64 KiB max_payload, remote worker processes, 300 KiB inputs and results. They travel through the
// pool's object store bucket and must come back byte-exact, in order, and leave the bucket empty.
import assert from "node:assert/strict";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { connectNats } from "../src/pool/nats/client.ts";
import { payloadBucket } from "../src/pool/nats/large_payload.ts";
import { withTempDir } from "./temp_dir.ts";
import { startServer, startWorker } from "./nats_pool_helpers.ts";
import type fixture from "./fixtures/nats_pool_large_worker.ts";
import { type LargeInput, transform } from "./fixtures/nats_pool_large_worker.ts";

const MODULE = new URL("./fixtures/nats_pool_large_worker.ts", import.meta.url).href;
const MAX_PAYLOAD = 64 * 1024;
const KIB = 1024;

/** `n` inputs of `size` random bytes each, asking for results of `out` bytes. */
function inputsOf(n: number, size: number, out: number): LargeInput[] {
  return Array.from({ length: n }, (_, id) => {
    const bytes = new Uint8Array(size);
    for (let at = 0; at < size; at += 65536) {
      crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
    }
    return { id, bytes, out };
  });
}

/** The pool's payload bucket: messages held and the last sequence it ever had. */
async function bucketState(url: string, pool: string) {
  await using nats = await connectNats({ servers: url });
  const info = await nats.jsm.streams.info(`OBJ_${payloadBucket(pool)}`, { subjects_filter: ">" });
  if (info.state.messages > 0) console.log(info.state.subjects);
  return { messages: info.state.messages, lastSeq: info.state.last_seq };
}

function checkResults(
  got: { id: number; bytes: Uint8Array }[],
  inputs: LargeInput[],
): void {
  assert.deepEqual(got.map((r) => r.id), inputs.map((x) => x.id), "ordered, one per input");
  for (let i = 0; i < inputs.length; i++) {
    const expected = transform(inputs[i]!);
    assert.equal(got[i]!.bytes.byteLength, expected.byteLength, `result ${i} length`);
    assert.ok(
      Buffer.from(got[i]!.bytes).equals(Buffer.from(expected)),
      `result ${i} is byte-exact`,
    );
  }
}

function worker(url: string, pool: string, index: number, extra: Record<string, unknown> = {}) {
  return startWorker(url, pool, {
    index,
    args: extra.args ?? {},
    ackWaitMs: extra.ackWaitMs as number | undefined,
    options: { module: MODULE },
  });
}

Deno.test("300 KiB inputs (chunks of 3) and 300 KiB results over a 64 KiB max_payload: byte-exact, ordered, and the payload bucket is empty after the map", async () => {
  await using server = await startServer({ maxPayload: MAX_PAYLOAD });
  await using pool = await NatsPool.start<typeof fixture>({
    servers: server.url,
    pool: "large",
    size: 2,
  });
  await using _w0 = await worker(server.url, "large", 0);
  await using _w1 = await worker(server.url, "large", 1);
  const inputs = [
    ...inputsOf(10, 300 * KIB, 300 * KIB),
    ...inputsOf(2, 1 * KIB, 300 * KIB), // small input, large result
    ...inputsOf(2, 300 * KIB, 10), // large input, small result
  ].map((x, id) => ({ ...x, id }));
  const got = [];
  for await (const r of pool.map(inputs, { chunkSize: 3 })) got.push(r);
  checkResults(got, inputs);
  // a second map on the same pool (the bucket exists now)
  const again = inputsOf(4, 300 * KIB, 300 * KIB);
  const got2 = [];
  for await (const r of pool.map(again, { chunkSize: 1, ordered: true })) got2.push(r);
  checkResults(got2, again);
  await pool.close(); // waits for the maps' payload deletions
  const state = await bucketState(server.url, "large");
  assert.ok(state.lastSeq > 0, "payloads went through the bucket");
  assert.equal(state.messages, 0, "every object was deleted");
});

Deno.test("a remote worker SIGKILLed holding a large task: the task is redelivered, still finds its payload, and the map completes byte-exact", async () => {
  await withTempDir(async (dir) => {
    await using server = await startServer({ maxPayload: MAX_PAYLOAD });
    await using pool = await NatsPool.start<typeof fixture>({
      servers: server.url,
      pool: "largekill",
      size: 2,
      ackWaitMs: 1000,
    });
    const args = { dir, hangOn: 2 };
    const workers = [
      await worker(server.url, "largekill", 0, { args, ackWaitMs: 1000 }),
      await worker(server.url, "largekill", 1, { args, ackWaitMs: 1000 }),
    ];
    await using _w0 = workers[0]!;
    await using _w1 = workers[1]!;
    const inputs = inputsOf(6, 300 * KIB, 300 * KIB);
    const results = (async () => {
      const out = [];
      for await (const r of pool.map(inputs, { chunkSize: 1 })) out.push(r);
      return out;
    })();
    results.catch(() => {});
    const pid = Number(await waitForFile(`${dir}/hang`, results));
    const victim = workers.findIndex((w) => w.pid === pid);
    assert.ok(victim >= 0, `the hang file names pid ${pid}, not one of the workers`);
    assert.equal((await workers[victim]!.kill()).signal, "SIGKILL");
    checkResults(await results, inputs);
    assert.equal((await workers[1 - victim]!.stop()).code, 0);
    await pool.close();
    assert.equal((await bucketState(server.url, "largekill")).messages, 0);
  });
});

Deno.test("nats-server SIGKILLed and restarted mid-map with large inputs and results: the map completes byte-exact, in order, and the bucket ends empty", async () => {
  await using server = await startServer({ maxPayload: MAX_PAYLOAD });
  await using pool = await NatsPool.start<typeof fixture>({
    servers: server.url,
    pool: "largerestart",
    size: 2,
    ackWaitMs: 2000,
  });
  await using w0 = await worker(server.url, "largerestart", 0, { ackWaitMs: 2000 });
  await using w1 = await worker(server.url, "largerestart", 1, { ackWaitMs: 2000 });
  const inputs = inputsOf(60, 300 * KIB, 300 * KIB);
  const got = [];
  let restarted: Promise<void> | undefined;
  for await (const r of pool.map(inputs, { chunkSize: 1 })) {
    got.push(r);
    if (got.length === 10) {
      restarted = (async () => {
        await server.kill(); // SIGKILL: puts, reads and deletions in flight fail and are retried
        await new Promise((r) => setTimeout(r, 300));
        await server.restart();
      })();
    }
  }
  assert.ok(restarted !== undefined, "the server was killed mid-map");
  await restarted;
  checkResults(got, inputs);
  assert.equal((await w0.stop()).code, 0);
  assert.equal((await w1.stop()).code, 0);
  await pool.close();
  // deletions cut by the kill were retried after the restart
  assert.equal((await bucketState(server.url, "largerestart")).messages, 0);
});

/** The content of `path` once it exists and is not empty; throws if `map` settles first. */
async function waitForFile(path: string, map: Promise<unknown>): Promise<string> {
  let ended = false;
  map.then(() => (ended = true), () => (ended = true));
  for (;;) {
    const text = await Deno.readTextFile(path).catch(() => "");
    if (text !== "") return text;
    if (ended) {
      await map;
      throw new Error("the map ended before the file was written");
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
