// Security of the NATS pool: a remote worker without credentials is refused by a server that
// requires them (token, user/password, NKey), a worker and a coordinator with the right
// credentials serve a map, and a task message cannot make a worker load a module: it runs the one
// module it was started with, or terminates the message.
import assert from "node:assert/strict";
import { serialize } from "node:v8";
import { connectNats, type NatsConnectOptions } from "../src/nats/mod.ts";
import { headers, nkeys } from "../src/nats/client.ts";
import { NatsPool, runRemoteWorker } from "../src/pool/mod.ts";
import type { NatsPoolOptions, RemoteWorkerOptions } from "../src/pool/mod.ts";
import { type NatsServerOptions, startNatsServer } from "./nats/server.ts";
import { spawnRemoteWorker, startRemoteWorker } from "./fixtures/remote_worker_process.ts";
import { FACTOR, MODULE } from "./pool_behaviours.ts";
import { withTempDir } from "./temp_dir.ts";

/** A server's auth settings and the client credentials that match them. */
interface AuthCase {
  name: string;
  server: NatsServerOptions;
  good: Credentials;
  bad: Credentials;
}

/** The credential fields of NatsConnectOptions. */
interface Credentials {
  token?: string;
  user?: string;
  pass?: string;
  nkeySeed?: string;
}

function authCases(): AuthCase[] {
  const user = nkeys.createUser();
  const other = nkeys.createUser();
  const seed = (kp: typeof user) => new TextDecoder().decode(kp.getSeed());
  return [
    { name: "token", server: { token: "s3cret" }, good: { token: "s3cret" }, bad: { token: "no" } },
    {
      name: "user/password",
      server: { user: "spool", password: "pw" },
      good: { user: "spool", pass: "pw" },
      bad: { user: "spool", pass: "nope" },
    },
    {
      name: "nkey",
      server: { nkey: user.getPublicKey() },
      good: { nkeySeed: seed(user) },
      bad: { nkeySeed: seed(other) },
    },
  ];
}

const REFUSAL = /Authorization Violation|refused the credentials/;

/** Start a worker process without credentials against each auth case; check how it ended. */
async function refusedWorkers(check: (c: AuthCase, output: string) => void): Promise<void> {
  for (const c of authCases()) {
    await using server = await startNatsServer(c.server);
    const worker = spawnRemoteWorker({
      url: server.url,
      pool: "auth",
      module: MODULE,
      args: { factor: FACTOR },
    });
    const status = await worker.status;
    assert.notEqual(status.code, 0, `${c.name}: the worker exited 0:\n${worker.output()}`);
    assert.ok(!worker.output().includes("ready"), `${c.name}: the worker got ready`);
    check(c, worker.output());
    // The server is up and takes the right credentials: the refusal is about the credentials.
    await using ok = await connectNats({ servers: server.url, ...c.good } as NatsConnectOptions);
    assert.equal(ok.nc.isClosed(), false);
  }
}

Deno.test("a remote worker process started without credentials is refused by a server with a token, a user/password or an NKey: it exits non-zero without getting ready", async () => {
  await refusedWorkers(() => {});
  // The same command against a server without auth gets ready (it is not broken otherwise).
  await using open = await startNatsServer();
  await using worker = await startRemoteWorker({
    url: open.url,
    pool: "auth",
    module: MODULE,
    args: { factor: FACTOR },
  });
  assert.equal((await worker.stop()).code, 0, worker.output());
});

// Expected to fail until the remote worker connects through connectNats (another branch): with
// the client's bare connect, a refused worker dies in most runs of an uncaught
// "read ECONNRESET" (the socket reset that docs/distributed.md describes), which names nothing.
Deno.test("a remote worker refused for its credentials says so: its output names the refusal", async () => {
  await refusedWorkers((c, output) => assert.match(output, REFUSAL, `${c.name}: ${output}`));
});

Deno.test("a task message cannot make a remote worker load another module: it runs its own module or terminates the message", async () => {
  await withTempDir(async (dir) => {
    // A module that leaves a mark the moment anything imports it.
    const mark = `${dir}/imported`;
    const evil = new URL(`file://${dir}/evil.ts`);
    await Deno.writeTextFile(
      evil,
      `Deno.writeTextFileSync(${JSON.stringify(mark)}, String(Deno.pid));\n` +
        `export default { process: () => "evil" };\n`,
    );
    await using server = await startNatsServer();
    const pool = "guard";
    await using worker = await startRemoteWorker({
      url: server.url,
      pool,
      module: MODULE,
      args: { factor: FACTOR },
      ackWaitMs: 1000,
    });
    await using nats = await connectNats({ servers: server.url });
    const map = "m1";
    const results = new Map<string, unknown>();
    const sub = nats.nc.subscribe(`spool.${pool}.results.${map}`, {
      callback: (err, msg) => {
        if (err === null) results.set(msg.headers?.get("Spool-Chunk") ?? "?", msg.data);
      },
    });
    await nats.nc.flush();
    const send = async (chunk: number, body: unknown, extra: Record<string, string> = {}) => {
      const h = headers();
      h.set("Spool-Map", map);
      h.set("Spool-Chunk", String(chunk));
      for (const [k, v] of Object.entries(extra)) h.set(k, v);
      await nats.js.publish(`spool.${pool}.tasks.${map}`, serialize(body), { headers: h });
    };
    const named = { "Spool-Module": evil.href, "Spool-Export": "default", "Module": evil.href };
    await send(1, [0, [5]], named); // a well-formed task naming a module in its headers
    await send(2, { module: evil.href, export: "default", items: [5] }); // a body naming one
    await send(3, [0, [7], evil.href, "default"]); // the module name after the items
    await send(4, `import(${JSON.stringify(evil.href)})`); // not a task at all
    // The two tasks run with the worker's own module; the two malformed ones get no result, and
    // nothing is left in the stream or waiting for an ack (terminated, not redelivered).
    const jsm = nats.jsm;
    const settled = async () => {
      const s = await jsm.streams.info(`spool_${pool}_tasks`);
      const c = await jsm.consumers.info(`spool_${pool}_tasks`, `spool_${pool}_workers`);
      return results.size >= 2 && s.state.messages === 0 && c.num_ack_pending === 0 &&
        c.num_pending === 0 && c.delivered.stream_seq === 4;
    };
    let exited = false;
    worker.status.then(() => (exited = true));
    while (!(await settled())) {
      assert.ok(!exited, `the worker exited:\n${worker.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    sub.unsubscribe();
    const { deserialize } = await import("node:v8");
    const valuesOf = (chunk: string) => deserialize(results.get(chunk) as Uint8Array)[1];
    assert.deepEqual([...results.keys()].sort(), ["1", "3"]);
    assert.deepEqual(valuesOf("1"), [5 * FACTOR]);
    assert.deepEqual(valuesOf("3"), [7 * FACTOR]);
    assert.equal((await worker.stop()).code, 0, worker.output());
    assert.equal(
      await Deno.stat(mark).then(() => true, () => false),
      false,
      "evil.ts was imported",
    );
    // The mark works: importing the module here leaves it.
    await import(evil.href);
    assert.equal(await Deno.readTextFile(mark), String(Deno.pid));
  });
});

// Needs the credential options of NatsPool.start and runRemoteWorker (the NatsConnectOptions
// fields token, user, pass, nkeySeed), which another branch adds: until it is merged this test
// fails (the options are ignored and the connections are refused; with the client's bare connect
// the refusal can even surface as an uncaught ECONNRESET that fails this module). It is the last
// test of the file so that, until then, it cannot cancel the others.
Deno.test("with the right credentials a remote worker and a NatsPool serve a map; wrong ones are refused", async () => {
  for (const c of authCases()) {
    await using server = await startNatsServer(c.server);
    const pool = "auth";
    const base = { servers: server.url, pool, module: MODULE, args: { factor: FACTOR } };
    const wrong: RemoteWorkerOptions = { ...base, ...c.bad };
    await assert.rejects(() => runRemoteWorker(wrong), REFUSAL, `${c.name}: wrong credentials`);
    const stop = new AbortController();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const right: RemoteWorkerOptions = { ...base, ...c.good, signal: stop.signal, onReady: ready };
    const worker = runRemoteWorker(right);
    worker.catch(() => {}); // awaited below; a refusal must not become an unhandled rejection
    try {
      await Promise.race([isReady, worker]);
      const options: NatsPoolOptions = { servers: server.url, pool, size: 2, ...c.good };
      await using p = await NatsPool.start(options);
      const out: unknown[] = [];
      for await (const y of p.map([1, 2, 3])) out.push(y);
      assert.deepEqual(out, [FACTOR, 2 * FACTOR, 3 * FACTOR], c.name);
    } finally {
      stop.abort();
      await worker;
    }
  }
});
