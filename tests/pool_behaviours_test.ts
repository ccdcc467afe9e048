// The shared map contract (tests/pool_behaviours.ts) against the three backends: WorkerPool
// threads, WorkerPool processes, and NatsPool with 2 remote worker processes. Each backend is one
// test whose steps are the specs; the NATS test starts one nats-server and the two workers once
// and gives each spec a NatsPool coordinator of its own on the same pool name.
import assert from "node:assert/strict";
import { NatsPool, WorkerPool } from "../src/pool/mod.ts";
import type W from "./fixtures/pool_behaviours_worker.ts";
import { type Backend, FACTOR, type LooseMap, MODULE, runBehaviours } from "./pool_behaviours.ts";
import { startNatsServer } from "./nats/server.ts";
import { startRemoteWorker } from "./fixtures/remote_worker_process.ts";

function workerPool(kind: "worker" | "process"): Backend {
  return {
    name: kind,
    async start(module, { init }) {
      const pool = await WorkerPool.start<typeof W>({ module, size: 2, kind, init });
      return { map: pool.map.bind(pool) as unknown as LooseMap, close: () => pool.close() };
    },
  };
}

Deno.test("pool behaviours: WorkerPool threads", async (t) => {
  await runBehaviours(t, workerPool("worker"));
});

Deno.test("pool behaviours: WorkerPool processes", async (t) => {
  await runBehaviours(t, workerPool("process"));
});

Deno.test("pool behaviours: NatsPool with 2 remote worker processes", async (t) => {
  await using server = await startNatsServer();
  const pool = "behaviours";
  const args = { factor: FACTOR };
  await using w0 = await startRemoteWorker({ url: server.url, pool, module: MODULE, args });
  await using w1 = await startRemoteWorker({
    url: server.url,
    pool,
    module: MODULE,
    args,
    index: 1,
  });
  const backend: Backend = {
    name: "nats",
    async start(module, { init }) {
      // The remote workers were started with MODULE and FACTOR: nothing else can be asked for.
      assert.equal(module.href, MODULE.href);
      assert.deepEqual(init, args);
      const p = await NatsPool.start<typeof W>({ servers: server.url, pool, size: 4 });
      return { map: p.map.bind(p) as unknown as LooseMap, close: () => p.close() };
    },
  };
  await runBehaviours(t, backend);
  // Both workers stop gracefully: nothing they held was lost or stuck.
  assert.equal((await w0.stop()).code, 0, w0.output());
  assert.equal((await w1.stop()).code, 0, w1.output());
});
