/**
 * A writer SIGKILLed while saving to a NATS store: its lock expires and is taken over as stale,
 * the newest complete snapshot loads consistently, and its cut upload (if the kill landed in
 * one) is removed when the next writer opens.
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { arrayState, jsonState, StateStore, StoreLockedError } from "../src/state/mod.ts";
import { NatsStorage } from "../src/state/nats_storage.ts";
import { connect, Kvm, Objm } from "../src/state/nats_storage_client.ts";
import { startNatsServer } from "./nats/server.ts";

const CHILD = fileURLToPath(new URL("./fixtures/nats_state_crash_child.ts", import.meta.url));

/** Read the child's stdout until it has reported `count` saves. */
async function waitForSaves(child: Deno.ChildProcess, count: number): Promise<void> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes(`saved ${count}\n`)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the child exited before ${count} saves:\n${text}`);
      text += value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Snapshot names of objects that have no completion marker. */
async function unmarkedObjects(url: string): Promise<string[]> {
  const nc = await connect({ servers: url });
  try {
    const os = await new Objm(nc).open("crash");
    const kv = await new Kvm(nc).open("crash");
    const out: string[] = [];
    for (const info of await os.list()) {
      const seq = info.name.slice(0, 12);
      if ((await kv.get(`snap.${seq}`))?.operation !== "PUT") out.push(info.name);
    }
    return out;
  } finally {
    await nc.close();
  }
}

Deno.test("nats state crash: after a SIGKILL mid-saves, the lock is taken over and the newest complete snapshot loads", async () => {
  await using server = await startNatsServer();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, server.url, "300"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    await waitForSaves(child, 3);
  } finally {
    child.kill("SIGKILL");
    await child.stdout.cancel().catch(() => {});
    await child.status;
  }
  let store: StateStore;
  for (;;) {
    try {
      const storage = await NatsStorage.connect({ servers: server.url, bucket: "crash" });
      store = await StateStore.withStorage(storage);
      break;
    } catch (error) {
      if (!(error instanceof StoreLockedError)) throw error;
      assert.equal(error.holder?.pid, child.pid); // still the dead child's, until it expires
    }
  }
  await using _store = store;
  assert.equal(store.staleLock?.pid, child.pid);
  assert.deepEqual(await unmarkedObjects(server.url), []);
  const counter = store.register("counter", jsonState({ n: 0 }));
  const block = store.register("block", arrayState(new Float64Array(0)));
  const path = await store.load("latest");
  assert.ok(path !== undefined);
  assert.ok(counter.value.n >= 3);
  assert.equal(path, `nats:crash/${String(counter.value.n).padStart(12, "0")}.snapshot`);
  assert.equal(block.value.length, 512 * 1024);
  assert.ok(block.value.every((x) => x === counter.value.n));
  const next = await store.save();
  assert.ok(next > path);
});
