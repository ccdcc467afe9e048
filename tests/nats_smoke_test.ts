/**
 * Smoke tests of the JetStream behaviours spool's distributed parts will rely on, each against a
 * real nats-server started by the test (tests/nats/server.ts): dedup by message id, redelivery
 * after ack_wait and its postponement by progress acks, work-queue retention, chunked object
 * store, KV create-if-absent, durability across SIGKILL, token auth.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connectNats, NatsConnectError } from "../mod.ts";
import { AckPolicy, type JsMsg, nkeys, RetentionPolicy } from "../src/nats/client.ts";
import { makeCerts } from "./nats/certs.ts";
import { startNatsServer } from "./nats/server.ts";
import { withTempDir } from "./temp_dir.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("nats: a message published twice with the same msgID is stored once", async () => {
  await using server = await startNatsServer();
  await using nats = await connectNats({ servers: server.url });
  await nats.jsm.streams.add({ name: "DEDUP", subjects: ["dedup.>"] });
  const first = await nats.js.publish("dedup.a", enc.encode("x"), { msgID: "item-1" });
  const second = await nats.js.publish("dedup.a", enc.encode("x"), { msgID: "item-1" });
  assert.equal(first.duplicate, false);
  assert.equal(second.duplicate, true);
  assert.equal(second.seq, first.seq);
  assert.equal((await nats.jsm.streams.info("DEDUP")).state.messages, 1);
});

/** One message from `consumer` of `stream`, waiting up to `expiresMs` (undefined when none). */
async function nextOf(
  nats: Awaited<ReturnType<typeof connectNats>>,
  stream: string,
  consumer: string,
  expiresMs: number,
): Promise<JsMsg | undefined> {
  const c = await nats.js.consumers.get(stream, consumer);
  return (await c.next({ expires: expiresMs })) ?? undefined;
}

Deno.test("nats: an unacked message is redelivered after ack_wait; working() postpones it", async () => {
  await using server = await startNatsServer();
  await using nats = await connectNats({ servers: server.url });
  await nats.jsm.streams.add({ name: "WORK", subjects: ["work.>"] });
  const ackWait = 2_000_000_000; // 2 s in nanoseconds
  await nats.jsm.consumers.add("WORK", {
    durable_name: "w",
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWait,
  });
  await nats.js.publish("work.a", enc.encode("job"));
  const m1 = await nextOf(nats, "WORK", "w", 5000);
  assert.ok(m1);
  assert.equal(m1.info.deliveryCount, 1);
  // not acked: it comes back, marked as a redelivery
  const m2 = await nextOf(nats, "WORK", "w", 10_000);
  assert.ok(m2);
  assert.equal(m2.info.deliveryCount, 2);
  assert.equal(m2.redelivered, true);
  // progress: while working() is sent every ack_wait/8, a pull for 2 ack_waits gets nothing
  const beat = setInterval(() => m2.working(), 250);
  let during: JsMsg | undefined;
  try {
    during = await nextOf(nats, "WORK", "w", 4000);
  } finally {
    clearInterval(beat);
  }
  assert.equal(during, undefined, "working() did not postpone the redelivery");
  await m2.ackAck();
  assert.equal(await nextOf(nats, "WORK", "w", 1500), undefined);
});

Deno.test("nats: work-queue retention delivers a message to one consumer and drops it on ack", async () => {
  await using server = await startNatsServer();
  await using nats = await connectNats({ servers: server.url });
  await nats.jsm.streams.add({
    name: "QUEUE",
    subjects: ["queue.>"],
    retention: RetentionPolicy.Workqueue,
  });
  await nats.jsm.consumers.add("QUEUE", { durable_name: "q", ack_policy: AckPolicy.Explicit });
  await nats.js.publish("queue.a", enc.encode("only once"));
  const c = await nats.js.consumers.get("QUEUE", "q");
  const [a, b] = await Promise.all([c.next({ expires: 2000 }), c.next({ expires: 2000 })]);
  const got = [a, b].filter((m) => m !== null);
  assert.equal(got.length, 1, "two pulls on one work queue got the message once");
  assert.equal(dec.decode(got[0]!.data), "only once");
  await got[0]!.ackAck();
  assert.equal((await nats.jsm.streams.info("QUEUE")).state.messages, 0);
});

Deno.test("nats: the object store puts and gets 4 MiB through a 1 MiB max_payload", async () => {
  await using server = await startNatsServer({ maxPayload: 1024 * 1024 });
  await using nats = await connectNats({ servers: server.url });
  assert.equal(nats.nc.info?.max_payload, 1024 * 1024);
  const store = await nats.obj("blobs");
  const data = new Uint8Array(4 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const info = await store.putBlob({ name: "frame-0" }, data);
  assert.equal(info.size, data.length);
  assert.ok(info.chunks > 4, `expected several chunks, got ${info.chunks}`);
  const back = await store.getBlob("frame-0");
  assert.ok(back);
  assert.equal(back.length, data.length);
  assert.deepEqual(back, data);
});

Deno.test("nats: KV put/get, and create fails when the key exists (a lock)", async () => {
  await using server = await startNatsServer();
  await using nats = await connectNats({ servers: server.url });
  const kv = await nats.kv("locks");
  await kv.put("config", "v1");
  assert.equal((await kv.get("config"))?.string(), "v1");
  const rev = await kv.create("run-1", "owner-a");
  assert.ok(rev > 0);
  await assert.rejects(() => kv.create("run-1", "owner-b"));
  assert.equal((await kv.get("run-1"))?.string(), "owner-a");
});

Deno.test("nats: a stream's contents survive a SIGKILL of the server and a restart", async () => {
  await using server = await startNatsServer();
  {
    await using nats = await connectNats({ servers: server.url });
    await nats.jsm.streams.add({ name: "DURABLE", subjects: ["durable.>"] });
    for (let i = 0; i < 10; i++) await nats.js.publish("durable.a", enc.encode(`m${i}`));
  }
  await server.kill();
  await server.restart();
  await using nats = await connectNats({ servers: server.url });
  const info = await nats.jsm.streams.info("DURABLE");
  assert.equal(info.state.messages, 10);
  const last = await nats.jsm.streams.getMessage("DURABLE", { seq: 10 });
  assert.equal(last && dec.decode(last.data), "m9");
});

Deno.test("nats: with a token required, a connect without it is a NatsConnectError; with it, it works", async () => {
  await using server = await startNatsServer({ token: "s3cret" });
  await assert.rejects(
    () => connectNats({ servers: server.url, timeoutMs: 5000 }),
    (e: unknown) => e instanceof NatsConnectError && /refused the credentials/.test(e.message),
  );
  await assert.rejects(
    () => connectNats({ servers: server.url, token: "wrong", timeoutMs: 5000 }),
    (e: unknown) => e instanceof NatsConnectError && /refused the credentials/.test(e.message),
  );
  await using nats = await connectNats({ servers: server.url, token: "s3cret" });
  assert.equal(nats.nc.isClosed(), false);
});

Deno.test("nats: user/password auth: a wrong password is refused, the right one connects", async () => {
  await using server = await startNatsServer({ user: "spool", password: "pw" });
  await assert.rejects(
    () => connectNats({ servers: server.url, user: "spool", pass: "nope", timeoutMs: 5000 }),
    NatsConnectError,
  );
  await using nats = await connectNats({ servers: server.url, user: "spool", pass: "pw" });
  assert.equal(nats.nc.isClosed(), false);
});

Deno.test("nats: NKey auth: the user's seed connects, another seed is refused", async () => {
  const user = nkeys.createUser();
  const other = nkeys.createUser();
  await using server = await startNatsServer({ nkey: user.getPublicKey() });
  const seedOf = (kp: typeof user) => dec.decode(kp.getSeed());
  await assert.rejects(
    () => connectNats({ servers: server.url, nkeySeed: seedOf(other), timeoutMs: 5000 }),
    (e: unknown) => e instanceof NatsConnectError && /refused the credentials/.test(e.message),
  );
  await using nats = await connectNats({ servers: server.url, nkeySeed: seedOf(user) });
  assert.equal(nats.nc.isClosed(), false);
});

Deno.test("nats: TLS: trusting the server's CA connects; without it the connect is refused", async () => {
  await withTempDir(async (dir) => {
    const certs = await makeCerts(dir);
    await using server = await startNatsServer({ tls: certs });
    await assert.rejects(
      () => connectNats({ servers: server.url, timeoutMs: 5000 }),
      NatsConnectError,
    );
    await using nats = await connectNats({ servers: server.url, tls: { caFile: certs.caFile } });
    assert.equal(nats.nc.info?.tls_required, true);
  });
});

Deno.test("nats: a server without JetStream is refused with a NatsConnectError naming -js", async () => {
  await using server = await startNatsServer({ jetstream: false });
  await assert.rejects(
    () => connectNats({ servers: server.url, timeoutMs: 5000 }),
    (e: unknown) => e instanceof NatsConnectError && /-js/.test(e.message),
  );
});

Deno.test("nats: no server listening is a NatsConnectError saying none is reachable", async () => {
  await using server = await startNatsServer();
  const url = server.url;
  await server.stop();
  await assert.rejects(
    () => connectNats({ servers: url, timeoutMs: 5000 }),
    (e: unknown) => e instanceof NatsConnectError && /reachable/.test(e.message),
  );
});

Deno.test("nats: twenty refused connects in a row raise no uncaught ECONNRESET (guarded sockets)", async () => {
  // Without the guard of src/nats/transport.ts most runs of this test end the module with an
  // uncaught `read ECONNRESET` from a socket whose listeners the client had removed.
  await using server = await startNatsServer({ token: "s3cret" });
  for (let i = 0; i < 20; i++) {
    await assert.rejects(
      () => connectNats({ servers: server.url, token: `wrong-${i}`, timeoutMs: 5000 }),
      NatsConnectError,
    );
  }
});
