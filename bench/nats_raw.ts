// Per-message costs of the NATS client and server on loopback, below spool: what one task can
// cost at best, the inputs of the scaling model in docs/distributed.md, and where the NatsPool's
// per-task time goes (bench/nats_compare.ts). One process, one nats-server (file store), the
// pinned client (src/nats/client.ts). Medians of --rounds repeats (default 3).
//
//   SPOOL_NATS_SERVER=/path/to/nats-server deno run -A bench/nats_raw.ts [--rounds 3]

import {
  AckPolicy,
  connect,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
} from "../src/nats/client.ts";
import { startNatsServer } from "../tests/nats/server.ts";

const args = Deno.args;
const ROUNDS = args.includes("--rounds") ? Number(args[args.indexOf("--rounds") + 1]) : 3;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error("--rounds takes an integer >= 1");
const N_SEQ = 2_000;
const N_BULK = 20_000;
const WINDOW = 256;
const BODY = new Uint8Array(16);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await using server = await startNatsServer();
const nc = await connect({ servers: server.url });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const NS = 1_000_000;

/** A fresh work-queue stream with one durable explicit-ack pull consumer (as a NatsPool's). */
async function freshStream(name: string) {
  await jsm.streams.delete(name).catch(() => {});
  await jsm.streams.add({
    name,
    subjects: [`${name}.>`],
    retention: RetentionPolicy.Workqueue,
  });
  await jsm.consumers.add(name, {
    durable_name: "w",
    ack_policy: AckPolicy.Explicit,
    ack_wait: 30_000 * NS,
    max_ack_pending: -1,
  });
  return await js.consumers.get(name, "w");
}

async function fill(name: string, n: number): Promise<void> {
  const pending = new Set<Promise<unknown>>();
  for (let i = 0; i < n; i++) {
    const p: Promise<unknown> = js.publish(`${name}.t`, BODY).then(() => pending.delete(p));
    pending.add(p);
    if (pending.size >= WINDOW) await Promise.race(pending);
  }
  await Promise.all(pending);
}

const cases: [string, string, () => Promise<number>][] = [
  ["core request/reply, sequential", "µs/msg", async () => {
    const sub = nc.subscribe("echo", { callback: (_e, m) => void m.respond(m.data) });
    const t0 = performance.now();
    for (let i = 0; i < N_SEQ; i++) await nc.request("echo", BODY);
    const us = (performance.now() - t0) * 1000 / N_SEQ;
    sub.unsubscribe();
    return us;
  }],
  ["core publish -> subscriber (same process)", "msgs/s", async () => {
    let got = 0;
    const n = N_BULK * 10;
    const done = Promise.withResolvers<void>();
    const sub = nc.subscribe("flood", {
      callback: () => void (++got === n && done.resolve()),
    });
    await nc.flush();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) nc.publish("flood", BODY);
    await done.promise;
    sub.unsubscribe();
    return n / ((performance.now() - t0) / 1000);
  }],
  ["JetStream publish, awaited one by one", "µs/msg", async () => {
    await freshStream("rawseq");
    const t0 = performance.now();
    for (let i = 0; i < N_SEQ; i++) await js.publish("rawseq.t", BODY);
    return (performance.now() - t0) * 1000 / N_SEQ;
  }],
  [`JetStream publish, ${WINDOW} in flight`, "msgs/s", async () => {
    await freshStream("rawbulk");
    const t0 = performance.now();
    await fill("rawbulk", N_BULK);
    return N_BULK / ((performance.now() - t0) / 1000);
  }],
  ["core publish into a stream (no ack awaited; until stored)", "msgs/s", async () => {
    await freshStream("rawcore");
    const t0 = performance.now();
    for (let i = 0; i < N_BULK; i++) nc.publish("rawcore.t", BODY);
    await nc.flush();
    while ((await jsm.streams.info("rawcore")).state.messages < N_BULK) {
      await new Promise((r) => setTimeout(r, 1));
    }
    return N_BULK / ((performance.now() - t0) / 1000);
  }],
  ["pull consumer next() + ack, one at a time", "µs/msg", async () => {
    const c = await freshStream("rawnext");
    await fill("rawnext", N_SEQ);
    const t0 = performance.now();
    for (let i = 0; i < N_SEQ; i++) (await c.next({ expires: 5000 }))!.ack();
    return (performance.now() - t0) * 1000 / N_SEQ;
  }],
  ["pull consumer next() + ack, 50 loops at once", "msgs/s", async () => {
    const c = await freshStream("rawnext50");
    await fill("rawnext50", N_BULK / 4);
    let left = N_BULK / 4;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 50 }, async () => {
      while (left > 0) {
        left--;
        (await c.next({ expires: 5000 }))!.ack();
      }
    }));
    return N_BULK / 4 / ((performance.now() - t0) / 1000);
  }],
  ["consume({ max_messages: 256 }) + ack", "msgs/s", async () => {
    const c = await freshStream("rawconsume");
    await fill("rawconsume", N_BULK);
    const t0 = performance.now();
    const it = await c.consume({ max_messages: 256 });
    let n = 0;
    for await (const m of it) {
      m.ack();
      if (++n === N_BULK) break;
    }
    await it.close();
    return N_BULK / ((performance.now() - t0) / 1000);
  }],
  ["fetch({ max_messages: 100 }) + ack", "msgs/s", async () => {
    const c = await freshStream("rawfetch");
    await fill("rawfetch", N_BULK);
    const t0 = performance.now();
    let n = 0;
    while (n < N_BULK) {
      for await (const m of await c.fetch({ max_messages: 100, expires: 5000 })) {
        m.ack();
        n++;
      }
    }
    return N_BULK / ((performance.now() - t0) / 1000);
  }],
];

const results = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, , fn] of cases) {
    const v = await fn();
    (results.get(name) ?? results.set(name, []).get(name)!).push(v);
    console.error(`${name}: ${v.toFixed(1)}`);
  }
}
await nc.drain();
const load = new TextDecoder().decode(
  (await new Deno.Command("uptime", { stdout: "piped" }).output()).stdout,
).trim();
console.log(`Raw NATS costs on loopback (16-byte bodies, file store), medians of ${ROUNDS}.\n`);
console.log("| operation | median | unit |\n| --- | ---: | --- |");
for (const [name, unit] of cases) {
  const v = median(results.get(name)!);
  console.log(
    `| ${name} | ${v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1)} | ${unit} |`,
  );
}
console.log(`\nload: ${load}`);
