// The NATS pool with credentials: the coordinator and the remote workers connect through
// connectNats, so a server with a token serves a pool whose both sides hold it, and refuses
// (NatsConnectError) a side without it. Options are checked before any connect.
import assert from "node:assert/strict";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import { runRemoteWorker } from "../src/pool/nats/remote_worker.ts";
import { InvalidArgumentError } from "../src/errors.ts";
import { NatsConnectError } from "../src/nats/errors.ts";
import { startServer, startWorker } from "./nats_pool_helpers.ts";

const MODULE = new URL("./fixtures/nats_pool_worker.ts", import.meta.url);
const TOKEN = "s3cret-pool-token";

Deno.test("a pool and a remote worker holding the server's token run a map; a worker without it is refused with a NatsConnectError", async () => {
  await using server = await startServer({ token: TOKEN });
  await using pool = await NatsPool.start({ servers: server.url, token: TOKEN, pool: "auth" });
  await using worker = await startWorker(server.url, "auth", {
    index: 0,
    args: { factor: 2 },
    options: { token: TOKEN },
  });
  const got = [];
  for await (const y of pool.map([1, 2, 4, 5])) got.push(y);
  assert.deepEqual(got, [2, 4, 8, 10]);
  for (const token of [undefined, "wrong"]) {
    await assert.rejects(
      runRemoteWorker({ servers: server.url, pool: "auth", module: MODULE, token }),
      (e: unknown) => {
        assert.ok(e instanceof NatsConnectError, String(e));
        assert.match(e.message, /^Cannot connect to NATS: the server refused the credentials/);
        return true;
      },
    );
  }
  assert.equal((await worker.stop()).code, 0);
});

Deno.test("a coordinator without the token is refused with a NatsConnectError", async () => {
  await using server = await startServer({ token: TOKEN });
  await assert.rejects(
    NatsPool.start({ servers: server.url, pool: "auth" }),
    NatsConnectError,
  );
});

Deno.test("NatsPool.start and runRemoteWorker refuse unknown keys and bad values before connecting", async () => {
  const servers = "nats://127.0.0.1:1"; // nothing listens: a check that connected would fail otherwise
  const bad: [string, Record<string, unknown>, "both" | "pool"][] = [
    ['unknown option "tokn"', { tokn: "x" }, "both"],
    ["size must be an integer >= 1", { size: 0 }, "both"],
    ["depth must be an integer >= 1", { depth: 1.5 }, "pool"],
    ["ackWaitMs must be an integer >= 100", { ackWaitMs: 10 }, "both"],
    ["maxDeliveries must be an integer >= 1", { maxDeliveries: 0 }, "both"],
    ["the pool name must be", { pool: "a.b" }, "both"],
  ];
  for (const [reason, extra, sides] of bad) {
    await assert.rejects(
      NatsPool.start({ servers, pool: "p", ...extra } as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(reason),
      reason,
    );
    if (sides === "pool") continue;
    const worker = { servers, pool: "p", module: MODULE, ...extra };
    await assert.rejects(
      runRemoteWorker(worker as never),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(reason),
      reason,
    );
  }
  await assert.rejects(
    runRemoteWorker({ servers, pool: "p", module: MODULE, concurrency: 0 }),
    InvalidArgumentError,
  );
  // A connection option goes to connectNats, which checks it too.
  await assert.rejects(
    NatsPool.start({ servers, pool: "p", user: "u" }),
    (e: unknown) => e instanceof InvalidArgumentError && /user and pass/.test(e.message),
  );
});
