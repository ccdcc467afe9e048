// large_payload.ts against a real nats-server (64 KiB max_payload): inline bodies pass through,
// large ones go through the bucket and come back checked, a tampered object is refused, a missing
// task payload is answered with an error result, and a removal leaves the bucket empty (the chunks
// of a put that died before its meta entry included).
import assert from "node:assert/strict";
import { startNatsServer } from "../../../tests/nats/server.ts";
import { connectNats, headers, type JsMsg, type NatsHandle } from "./client.ts";
import {
  endPayloads,
  packBody,
  payloadBucket,
  PayloadError,
  publishBody,
  unpackResult,
  unpackTask,
} from "./large_payload.ts";
import {
  ATTEMPT_HEADER,
  CHUNK_HEADER,
  MAP_HEADER,
  PAYLOAD_ERROR_HEADER,
  PAYLOAD_HEADER,
} from "./protocol.ts";

const POOL = "lp";
const STREAM = `OBJ_${payloadBucket(POOL)}`;

function bytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
  return b;
}

/** Publish `data` with `h` on a stream of our own and take it back as a JsMsg. */
async function roundTrip(nats: NatsHandle, data: Uint8Array, h = headers()): Promise<JsMsg> {
  await nats.jsm.streams.add({ name: "t", subjects: ["t.>"] }).catch(() => {});
  await nats.jsm.streams.purge("t");
  await nats.js.publish("t.x", data, { headers: h });
  return await take(nats);
}

/** The next message of stream `t` (durable consumer `c`). */
async function take(nats: NatsHandle): Promise<JsMsg> {
  await nats.jsm.consumers.add("t", { durable_name: "c", ack_policy: "explicit" }).catch(() => {});
  const c = await nats.js.consumers.get("t", "c");
  const m = await c.next({ expires: 5_000 });
  assert.ok(m !== null);
  return m;
}

async function messagesIn(nats: NatsHandle, stream: string): Promise<number> {
  return (await nats.jsm.streams.info(stream)).state.messages;
}

Deno.test("a body within max_payload travels inline: same bytes, no header, no bucket", async () => {
  await using server = await startNatsServer({ maxPayload: 65536 });
  await using nats = await connectNats({ servers: server.url });
  const data = bytes(30 * 1024);
  const h = headers();
  const body = await packBody(nats, POOL, data, "m.1", h);
  assert.equal(body, data);
  assert.equal(h.has(PAYLOAD_HEADER), false);
  await assert.rejects(() => nats.jsm.streams.info(STREAM), /not found/);
});

Deno.test("a body over max_payload goes to the bucket: the message has the header and an empty body, the reader gets the bytes back", async () => {
  await using server = await startNatsServer({ maxPayload: 65536 });
  await using nats = await connectNats({ servers: server.url });
  const data = bytes(300 * 1024);
  const h = headers();
  h.set(MAP_HEADER, "m");
  h.set(CHUNK_HEADER, "1");
  const body = await packBody(nats, POOL, data, "m.1", h, true);
  assert.equal(body.byteLength, 0);
  assert.equal(h.get(PAYLOAD_HEADER), "m.1");
  const m = await roundTrip(nats, body, h);
  const reader = { target: nats, pool: POOL, index: 0, workerId: "w" };
  assert.deepEqual(await unpackTask(reader, m), data);
  // the client's own reader agrees (the layout is the object store's)
  const os = await nats.obj(payloadBucket(POOL));
  assert.deepEqual(await os.getBlob("m.1"), data);
  // the coordinator's side: a result of chunk 1 deletes the task's object; the map's end settles
  const result = await roundTrip(nats, new Uint8Array([1]), h2("m", "1"));
  let handed = 0;
  unpackResult(nats, POOL, "m", result, () => handed++);
  assert.equal(handed, 1);
  await endPayloads(nats, POOL, "m");
  assert.equal(await messagesIn(nats, STREAM), 0);
});

function h2(map: string, chunk: string) {
  const h = headers();
  h.set(MAP_HEADER, map);
  h.set(CHUNK_HEADER, chunk);
  return h;
}

Deno.test("a large result is handed over with its bytes, then every object of its chunk is deleted: an earlier attempt's, and the chunks of a put that died", async () => {
  await using server = await startNatsServer({ maxPayload: 65536 });
  await using nats = await connectNats({ servers: server.url });
  await nats.jsm.streams.add({ name: "u", subjects: ["u.>"] });
  const large = { pool: POOL };
  // attempt 1: a worker stored its result, then was SIGKILLed (its message went nowhere we read)
  const h1 = h2("m", "4");
  h1.set(ATTEMPT_HEADER, "1");
  await publishBody(nats, "u.x", bytes(150 * 1024), { msgID: "r.m.4", headers: h1 }, undefined, {
    ...large,
    attempt: 1,
  });
  assert.equal(h1.get(PAYLOAD_HEADER), "r.m.4.1");
  // ... and another one died mid-put: chunks under the same key, no meta
  const chunks = Object.keys(
    (await nats.jsm.streams.info(STREAM, { subjects_filter: "$O.*.C.>" })).state.subjects ?? {},
  );
  assert.equal(chunks.length, 1);
  const key = chunks[0]!.split(".")[3];
  await nats.js.publish(`$O.${payloadBucket(POOL)}.C.${key}.dead`, bytes(1000));
  // attempt 2 publishes the result the coordinator reads
  const data = bytes(200 * 1024);
  const h = h2("m", "4");
  h.set(ATTEMPT_HEADER, "2");
  await nats.jsm.streams.add({ name: "t", subjects: ["t.>"] });
  await publishBody(nats, "t.x", data, { msgID: "r.m.4", headers: h }, undefined, {
    ...large,
    attempt: 2,
  });
  const m = await take(nats);
  const got = await new Promise<Uint8Array>((resolve) => {
    unpackResult(nats, POOL, "m", m, (u) => resolve(u.data));
  });
  assert.deepEqual(got, data);
  await endPayloads(nats, POOL, "m");
  assert.equal(await messagesIn(nats, STREAM), 0);
});

Deno.test("a result the server drops as a duplicate has its object deleted at once (no message refers to it)", async () => {
  await using server = await startNatsServer({ maxPayload: 65536 });
  await using nats = await connectNats({ servers: server.url });
  await nats.jsm.streams.add({ name: "t", subjects: ["t.>"] });
  const send = (attempt: number) =>
    publishBody(
      nats,
      "t.x",
      bytes(100 * 1024),
      { msgID: "r.m.5", headers: h2("m", "5") },
      undefined,
      {
        pool: POOL,
        attempt,
      },
    );
  assert.equal((await send(1)).duplicate, false);
  const before = await messagesIn(nats, STREAM);
  assert.equal((await send(2)).duplicate, true);
  assert.equal(await messagesIn(nats, STREAM), before, "the duplicate's object is gone");
  const os = await nats.obj(payloadBucket(POOL));
  assert.ok((await os.info("r.m.5.1")) !== null, "the first one's stays for the coordinator");
  assert.equal(await os.info("r.m.5.2"), null);
});

Deno.test("a tampered object is refused (digest), the task goes back (nak), and the result side gets a PayloadError", async () => {
  await using server = await startNatsServer({ maxPayload: 65536 });
  await using nats = await connectNats({ servers: server.url });
  const data = bytes(100 * 1024);
  const h = h2("m", "2");
  await packBody(nats, POOL, data, "m.2", h);
  const info = await (await nats.obj(payloadBucket(POOL))).info("m.2");
  assert.ok(info !== null && info.chunks === 2);
  // replace the second chunk with other bytes of the same size
  const subject = `$O.${payloadBucket(POOL)}.C.${info.nuid}`;
  const first = await nats.jsm.direct.getMessage(STREAM, { seq: 0, next_by_subj: subject });
  assert.ok(first !== null);
  const second = await nats.jsm.direct.getMessage(STREAM, {
    seq: first.seq + 1,
    next_by_subj: subject,
  });
  assert.ok(second !== null);
  await nats.jsm.streams.deleteMessage(STREAM, second.seq);
  await nats.js.publish(subject, new Uint8Array(second.data.byteLength));
  const m = await roundTrip(nats, new Uint8Array(0), h);
  const reader = { target: nats, pool: POOL, index: 0, workerId: "w" };
  await assert.rejects(() => unpackTask(reader, m), (e) => {
    assert.ok(e instanceof PayloadError);
    assert.match(e.message, /does not match its digest/);
    return true;
  });
  const again = await (await nats.js.consumers.get("t", "c")).next({ expires: 5_000 });
  assert.equal(again?.info.deliveryCount, 2, "the task went back at once (nak)");
  again.ack();
  const r = await roundTrip(
    nats,
    new Uint8Array(0),
    (() => {
      const x = h2("m", "2");
      x.set(PAYLOAD_HEADER, "m.2");
      return x;
    })(),
  );
  const error = await new Promise<unknown>((resolve) => {
    unpackResult(nats, POOL, "m", r, (u) => {
      try {
        resolve(u.data);
      } catch (e) {
        resolve(e);
      }
    });
  });
  assert.ok(error instanceof PayloadError, String(error));
  await endPayloads(nats, POOL, "m");
});

Deno.test("a task whose payload is missing is answered with an error result and rejects; that result reads as a PayloadError", async () => {
  await using server = await startNatsServer({ maxPayload: 65536 });
  await using nats = await connectNats({ servers: server.url });
  await nats.jsm.streams.add({ name: "res", subjects: ["spool.lp.results.>"] });
  await packBody(nats, POOL, bytes(100 * 1024), "other", headers()); // the bucket exists
  const h = h2("m", "9");
  h.set(PAYLOAD_HEADER, "m.9"); // never stored (or deleted, or expired)
  const m = await roundTrip(nats, new Uint8Array(0), h);
  const reader = { target: nats, pool: POOL, index: 3, workerId: "w3" };
  await assert.rejects(() => unpackTask(reader, m), PayloadError);
  const answer = await nats.jsm.streams.getMessage("res", { last_by_subj: "spool.lp.results.m" });
  assert.ok(answer !== null);
  assert.equal(answer.header.get(PAYLOAD_ERROR_HEADER), "m.9");
  assert.equal(answer.header.get(CHUNK_HEADER), "9");
  const back = await roundTrip(nats, answer.data, answer.header);
  let error: unknown;
  unpackResult(nats, POOL, "m", back, (u) => {
    try {
      void u.data;
    } catch (e) {
      error = e;
    }
  });
  assert.ok(error instanceof PayloadError);
  assert.match((error as Error).message, /a worker found it missing/);
});
