// One worker host cut off mid-map. The first test runs a remote worker inside a network namespace
// (tests/nats/netns.ts: `ip netns`, a veth pair, a relay to the loopback server) and takes its
// link down while it holds tasks; the second freezes a loopback worker with SIGSTOP. In both, the
// tasks the lost worker held are redelivered after ack_wait (2 s) to the other worker, and the
// map completes with every input exactly once. Where namespaces cannot be created the first test
// fails with the reason (never a skip).
import assert from "node:assert/strict";
import { NatsPool } from "../src/pool/mod.ts";
import { startNatsServer } from "./nats/server.ts";
import { createNetns, linkExists, netnsExists, startRelay } from "./nats/netns.ts";
import { type RemoteWorkerProcess, startRemoteWorker } from "./fixtures/remote_worker_process.ts";
import { withTempDir } from "./temp_dir.ts";

const MODULE = new URL("./fixtures/netns_worker.ts", import.meta.url);
const ACK_WAIT_MS = 2000;
const INPUTS = Array.from({ length: 40 }, (_, i) => i);

/** The inputs worker `index` started so far (from the fixture's start files). */
async function startedBy(dir: string, index: number): Promise<Set<number>> {
  const out = new Set<number>();
  for await (const e of Deno.readDir(dir)) {
    const m = /^start-(\d+)-(\d+)$/.exec(e.name);
    if (m !== null && Number(m[1]) === index) out.add(Number(m[2]));
  }
  return out;
}

/** Poll until `probe` holds; throw (with the map's error) if the map settles first. */
async function until(probe: () => Promise<boolean>, map: Promise<unknown>): Promise<void> {
  let ended = false;
  map.then(() => (ended = true), () => (ended = true));
  while (!(await probe())) {
    if (ended) {
      await map;
      throw new Error("the map ended before the awaited condition held");
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Map INPUTS (slow tasks, one per chunk) over the pool; once worker 0 (the `lost` one) holds
 * tasks, `lose` it; check that the map completes with every input once and that worker 1 ran
 * again what worker 0 held (redelivered).
 */
async function loseAWorker(
  pool: NatsPool,
  dir: string,
  lose: () => Promise<void>,
): Promise<void> {
  // A map whose lost tasks were never redelivered would wait forever: past a generous limit
  // (not a timing assertion: about 5 s are needed) it is aborted and the test fails saying so.
  const guard = new AbortController();
  const limit = setTimeout(
    () => guard.abort(new Error("the map did not complete in 120 s: tasks not redelivered?")),
    120_000,
  );
  const results = (async () => {
    const out: { index: number; value: unknown; ok: boolean }[] = [];
    const options = { errors: "collect", chunkSize: 1, signal: guard.signal } as const;
    for await (const r of pool.map(INPUTS, options)) {
      out.push({ index: r.index, value: r.ok ? r.value : String(r.error), ok: r.ok });
    }
    return out;
  })().finally(() => clearTimeout(limit));
  results.catch(() => {}); // awaited below
  await until(async () => (await startedBy(dir, 0)).size >= 2, results);
  await lose();
  const held = await startedBy(dir, 0); // what it started before it was lost (or just then)
  const got = await results;
  assert.deepEqual(got.map((r) => r.index), INPUTS, "one result per input, in order");
  for (const r of got) assert.deepEqual(r, { index: r.index, value: r.index * 10, ok: true });
  const again = [...held].filter((x) => got[x] !== undefined);
  const byOther = await startedBy(dir, 1);
  const redone = again.filter((x) => byOther.has(x));
  assert.ok(
    redone.length >= 1,
    `worker 1 ran none of the inputs worker 0 held (${[...held]}): nothing was redelivered`,
  );
  assert.equal(pool.duplicates, 0, "the lost worker's results never arrived");
}

Deno.test("a worker host cut off (its veth link taken down) mid-map: its tasks are redelivered after ack_wait and the map completes with every input exactly once", async () => {
  await withTempDir(async (dir) => {
    await using server = await startNatsServer();
    const ns = await createNetns(); // fails the test with the reason when it cannot
    let lost: RemoteWorkerProcess | undefined;
    try {
      await using relay = startRelay(ns.hostIp, server.port);
      await using pool = await NatsPool.start({
        servers: server.url,
        pool: "cut",
        size: 4,
        ackWaitMs: ACK_WAIT_MS,
      });
      const args = { dir, ms: 300 };
      lost = await startRemoteWorker({
        url: `nats://${ns.hostIp}:${relay.port}`,
        pool: "cut",
        module: MODULE,
        args,
        index: 0,
        ackWaitMs: ACK_WAIT_MS,
        prefix: ns.exec,
      });
      assert.ok(relay.accepted >= 1, "the namespaced worker connected through the link");
      const netOf = (pid: number | "self") => Deno.readLink(`/proc/${pid}/ns/net`);
      assert.notEqual(await netOf(lost.pid), await netOf("self"), "worker 0 runs in the namespace");
      await using other = await startRemoteWorker({
        url: server.url,
        pool: "cut",
        module: MODULE,
        args,
        index: 1,
        ackWaitMs: ACK_WAIT_MS,
      });
      await loseAWorker(pool, dir, () => ns.cut());
      assert.equal((await other.stop()).code, 0, other.output());
    } finally {
      await lost?.kill();
      await ns.remove();
    }
    assert.equal(await netnsExists(ns.name), false, `namespace ${ns.name} left behind`);
    assert.equal(await linkExists(ns.hostIf), false, `link ${ns.hostIf} left behind`);
  });
});

Deno.test("a worker frozen with SIGSTOP mid-map (loopback): its tasks are redelivered after ack_wait and the map completes with every input exactly once", async () => {
  await withTempDir(async (dir) => {
    await using server = await startNatsServer();
    await using pool = await NatsPool.start({
      servers: server.url,
      pool: "stop",
      size: 4,
      ackWaitMs: ACK_WAIT_MS,
    });
    const args = { dir, ms: 300 };
    const spec = { url: server.url, pool: "stop", module: MODULE, args, ackWaitMs: ACK_WAIT_MS };
    await using frozen = await startRemoteWorker({ ...spec, index: 0 });
    await using other = await startRemoteWorker({ ...spec, index: 1 });
    try {
      await loseAWorker(pool, dir, () => Promise.resolve(frozen.signal("SIGSTOP")));
    } finally {
      frozen.signal("SIGCONT");
    }
    assert.equal((await other.stop()).code, 0, other.output());
    // Thawed, the frozen worker finishes what it held (its results go to a map that ended) and
    // stops cleanly.
    assert.equal((await frozen.stop()).code, 0, frozen.output());
  });
});
