/**
 * `StateStore` on `NatsStorage` against a real nats-server (JetStream): round trip, the
 * single-writer lock, cut uploads ignored and cleaned, retention, corruption detected.
 */

import assert from "node:assert/strict";
import {
  arrayState,
  jsonState,
  LatestStatesKeeper,
  type PersistentState,
  SnapshotCorruptError,
  SnapshotNotFoundError,
  StateStore,
  StoreLockedError,
} from "../src/state/mod.ts";
import { NatsStorage } from "../src/state/nats_storage.ts";
import { ClosedError, InvalidArgumentError } from "../src/errors.ts";
import { NatsConnectError } from "../src/nats/errors.ts";
import { connect, connectNats, Kvm, Objm } from "../src/state/nats_storage_client.ts";
import { startNatsServer } from "./nats/server.ts";

/** A component that writes and reads a plain file itself (what `loadState(dir)` sees). */
function plainFileState(text: string): PersistentState & { text: string } {
  return {
    text,
    async saveState(dir: string) {
      await Deno.writeTextFile(`${dir}/plain.txt`, this.text);
    },
    async loadState(dir: string) {
      this.text = await Deno.readTextFile(`${dir}/plain.txt`);
    },
  };
}

function open(url: string, options = {}): Promise<StateStore> {
  return NatsStorage.connect({ servers: url, bucket: "run1" }).then((storage) =>
    StateStore.withStorage(storage, options)
  );
}

/** The object names of the store's bucket. */
async function objectNames(url: string): Promise<string[]> {
  const nc = await connect({ servers: url });
  try {
    const os = await new Objm(nc).open("run1");
    return (await os.list()).map((i) => i.name).sort();
  } finally {
    await nc.close();
  }
}

Deno.test("nats state: a saved snapshot loads back into fresh components (json, array, plain file)", async () => {
  await using server = await startNatsServer();
  {
    await using store = await open(server.url);
    store.register("config", jsonState({ step: 3 }));
    store.register("weights", arrayState(new Float64Array([1, 2, 3])));
    store.register("notes", plainFileState("hello"));
    const path = await store.save({ meta: { epoch: 7 } });
    assert.equal(path, "nats:run1/000000000001.snapshot");
  }
  await using store = await open(server.url);
  const config = store.register("config", jsonState({ step: 0 }));
  const weights = store.register("weights", arrayState(new Float64Array(0)));
  const notes = store.register("notes", plainFileState(""));
  assert.equal(await store.load("latest"), "nats:run1/000000000001.snapshot");
  assert.deepEqual(config.value, { step: 3 });
  assert.deepEqual([...weights.value], [1, 2, 3]);
  assert.equal(notes.text, "hello");
  const [info] = await store.list();
  assert.equal(info?.sequence, 1);
  assert.deepEqual(info?.meta, { epoch: 7 });
  assert.equal((await store.verify(1)).files, 3);
});

Deno.test("nats state: a second writer gets StoreLockedError; once closed, the next one opens", async () => {
  await using server = await startNatsServer();
  {
    await using _first = await open(server.url);
    await assert.rejects(open(server.url), (error: unknown) => {
      assert.ok(error instanceof StoreLockedError);
      assert.equal(error.holder?.pid, Deno.pid);
      return true;
    });
  }
  await using again = await open(server.url);
  assert.equal(again.staleLock, undefined);
});

Deno.test("nats state: a lock whose holder stopped refreshing is taken over as stale", async () => {
  await using server = await startNatsServer();
  // A writer that "dies": its storage connection closes without releasing the lock.
  const dead = await NatsStorage.connect({ servers: server.url, bucket: "run1", lockTtlMs: 3 });
  const lock = await dead.openWriter(true);
  assert.ok(lock);
  await dead.close(); // connection gone; the lock key stays with its expiry
  let stale;
  for (;;) {
    try {
      const store = await open(server.url);
      stale = store.staleLock;
      await store.close();
      break;
    } catch (error) {
      if (!(error instanceof StoreLockedError)) throw error;
    }
  }
  await lock.release(); // a late release of a lost lock is harmless
  assert.equal(stale?.pid, Deno.pid);
});

Deno.test("nats state: an upload cut before its completion marker is never listed nor loaded, and is cleaned", async () => {
  await using server = await startNatsServer();
  {
    await using store = await open(server.url);
    const config = store.register("config", jsonState({ step: 1 }));
    await store.save();
    // A save of sequence 2 cut after its files and manifest: objects without the marker.
    const nc = await connect({ servers: server.url });
    try {
      const os = await new Objm(nc).open("run1");
      for (const name of await objectNames(server.url)) {
        const bytes = await os.getBlob(name);
        await os.putBlob({ name: name.replace("000000000001", "000000000002") }, bytes);
      }
    } finally {
      await nc.close();
    }
    assert.deepEqual((await store.list()).map((s) => s.sequence), [1]);
    config.value.step = 0;
    assert.equal(await store.load("latest"), "nats:run1/000000000001.snapshot");
    assert.deepEqual(config.value, { step: 1 });
  }
  {
    await using reopened = await open(server.url); // takes the lock: removes the cut upload
    assert.ok((await objectNames(server.url)).every((n) => n.startsWith("000000000001.snapshot/")));
    reopened.register("config", jsonState({ step: 2 }));
    assert.equal(await reopened.save(), "nats:run1/000000000002.snapshot");
  }
});

Deno.test("nats state: a keeper removes old snapshots with all their objects", async () => {
  await using server = await startNatsServer();
  await using store = await open(server.url, { keeper: new LatestStatesKeeper(2) });
  store.register("config", jsonState({ step: 0 }));
  for (let i = 0; i < 4; i++) await store.save();
  assert.deepEqual((await store.list()).map((s) => s.sequence), [3, 4]);
  const names = await objectNames(server.url);
  assert.ok(names.length > 0);
  assert.ok(names.every((n) => /^00000000000[34]\.snapshot\//.test(n)), names.join(", "));
});

Deno.test("nats state: a damaged object is SnapshotCorruptError naming the file, nothing loaded", async () => {
  await using server = await startNatsServer();
  await using store = await open(server.url);
  const config = store.register("config", jsonState({ step: 5 }));
  await store.save();
  const nc = await connect({ servers: server.url });
  try {
    const os = await new Objm(nc).open("run1");
    const name = (await objectNames(server.url)).find((n) =>
      n.startsWith("000000000001.snapshot/config/")
    );
    assert.ok(name);
    const bytes = (await os.getBlob(name))!;
    bytes[0] = bytes[0]! ^ 0xff;
    await os.putBlob({ name }, bytes);
  } finally {
    await nc.close();
  }
  config.value.step = 9;
  await assert.rejects(store.load("latest"), (error: unknown) => {
    assert.ok(error instanceof SnapshotCorruptError);
    assert.match(error.message, /config\//);
    return true;
  });
  assert.deepEqual(config.value, { step: 9 });
});

Deno.test("nats state: a writer whose lock was taken over cannot publish (StoreLockedError, nothing listed)", async () => {
  await using server = await startNatsServer();
  await using store = await open(server.url);
  store.register("config", jsonState({ step: 1 }));
  // Another writer took the lock over (as after an expiry): the entry is no longer ours.
  const nc = await connect({ servers: server.url });
  try {
    const kv = await new Kvm(nc).open("run1");
    const holder = { pid: 4242, hostname: "elsewhere", since: "now", expires: Date.now() + 60_000 };
    await kv.put("lock", JSON.stringify(holder));
  } finally {
    await nc.close();
  }
  await assert.rejects(store.save(), (error: unknown) => {
    assert.ok(error instanceof StoreLockedError);
    assert.equal(error.holder?.pid, 4242);
    return true;
  });
  assert.deepEqual(await store.list(), []);
});

Deno.test("nats state: a read-only store loads what the writer saved while the writer holds the lock", async () => {
  await using server = await startNatsServer();
  await using writer = await open(server.url);
  writer.register("config", jsonState({ step: 8 }));
  await writer.save();
  await using reader = await open(server.url, { readOnly: true });
  const config = reader.register("config", jsonState({ step: 0 }));
  assert.equal(await reader.load("latest"), "nats:run1/000000000001.snapshot");
  assert.deepEqual(config.value, { step: 8 });
  await assert.rejects(reader.save(), ClosedError);
});

Deno.test("nats state: a read-only store on a bucket that does not exist is SnapshotNotFoundError", async () => {
  await using server = await startNatsServer();
  await assert.rejects(open(server.url, { readOnly: true }), SnapshotNotFoundError);
});

Deno.test("nats state: credentials: a token server takes the right token and refuses a missing or wrong one (NatsConnectError)", async () => {
  await using server = await startNatsServer({ token: "s3cret" });
  const connectWith = (extra: Record<string, unknown>) =>
    NatsStorage.connect({ servers: server.url, bucket: "auth", timeoutMs: 5000, ...extra });
  {
    await using store = await StateStore.withStorage(await connectWith({ token: "s3cret" }));
    store.register("config", jsonState({ step: 11 }));
    assert.equal(await store.save(), "nats:auth/000000000001.snapshot");
  }
  for (const extra of [{}, { token: "wrong" }]) {
    await assert.rejects(connectWith(extra), (error: unknown) => {
      assert.ok(error instanceof NatsConnectError, String(error));
      assert.match(error.message, /^Cannot connect to NATS: the server refused the credentials/);
      return true;
    });
  }
  await using store = await StateStore.withStorage(
    await connectWith({ token: "s3cret", name: "reader" }),
    { readOnly: true },
  );
  const config = store.register("config", jsonState({ step: 0 }));
  await store.load("latest");
  assert.deepEqual(config.value, { step: 11 });
});

Deno.test("nats state: bad options are InvalidArgumentError before any connect", async () => {
  // Nothing listens on port 1: a case that got as far as connecting would be a NatsConnectError.
  const servers = "nats://127.0.0.1:1";
  const bad: [string, unknown][] = [
    ["options: 42", 42],
    ["unknown key", { servers, bucket: "b", tokn: "x" }],
    ["no bucket", { servers }],
    ["bucket with a dot", { servers, bucket: "a.b" }],
    ["lockTtlMs: 0", { servers, bucket: "b", lockTtlMs: 0 }],
    ["lockTtlMs: a string", { servers, bucket: "b", lockTtlMs: "5" }],
    ["token: 42", { servers, bucket: "b", token: 42 }],
    ["user without pass", { servers, bucket: "b", user: "u" }],
    ["token and user/pass", { servers, bucket: "b", token: "t", user: "u", pass: "p" }],
    ["credsFile: missing", { servers, bucket: "b", credsFile: "/nonexistent/x.creds" }],
    ["tls: unknown key", { servers, bucket: "b", tls: { ca: "x" } }],
    ["timeoutMs: -1", { servers, bucket: "b", timeoutMs: -1 }],
    ["servers: []", { servers: [], bucket: "b" }],
  ];
  for (const [label, options] of bad) {
    await assert.rejects(
      NatsStorage.connect(options as never),
      (error: unknown) => {
        assert.ok(error instanceof InvalidArgumentError, `${label}: ${error}`);
        assert.match(error.message, /^Cannot [^:]+: .+, received .+/s, label);
        return true;
      },
    );
  }
  await assert.rejects(
    NatsStorage.connect({ servers, bucket: "b", timeoutMs: 2000 }),
    NatsConnectError,
  );
});

Deno.test("nats state: saves, loads and pruning create no consumer and leave no tombstone of removed objects", async () => {
  await using server = await startNatsServer();
  {
    await using store = await open(server.url, { keeper: new LatestStatesKeeper(2) });
    const config = store.register("config", jsonState({ step: 0 }));
    store.register("weights", arrayState(new Float64Array(64)));
    for (let i = 1; i <= 25; i++) {
      config.value.step = i;
      await store.save();
    }
    config.value.step = 0;
    await store.load("latest");
    assert.deepEqual(config.value, { step: 25 });
  }
  await using nats = await connectNats({ servers: server.url });
  const consumers: string[] = [];
  for (const stream of ["KV_run1", "OBJ_run1"]) {
    for await (const c of nats.jsm.consumers.list(stream)) consumers.push(`${stream}/${c.name}`);
  }
  // Before: each kv.keys(), os.list() and os.getBlob() left a consumer for 5 minutes (~6 a save).
  assert.deepEqual(consumers, []);
  // Two snapshots of 3 objects each (2 files + manifest), one meta and one chunk message per
  // object: the 23 removed snapshots left nothing behind.
  const info = await nats.jsm.streams.info("OBJ_run1");
  assert.equal(info.state.messages, 2 * 3 * 2);
});

Deno.test("nats state: a writer that takes the lock removes this bucket's staging folders left on this machine by a killed writer", async () => {
  await using server = await startNatsServer();
  const tmp = await Deno.makeTempDir({ prefix: "spool-tmpdir-" });
  const before = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", tmp);
  try {
    // What a writer SIGKILLed mid-save leaves: its staging folder with a component's file.
    await Deno.mkdir(`${tmp}/spool-nats-stage-run1.dead/config`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/spool-nats-stage-run1.dead/config/value.json`, "{}");
    await Deno.mkdir(`${tmp}/spool-nats-stage-run1-other.live`); // another bucket's: kept
    await Deno.mkdir(`${tmp}/unrelated`);
    await using store = await open(server.url);
    store.register("config", jsonState({ step: 1 }));
    await store.save();
    const left: string[] = [];
    for await (const e of Deno.readDir(tmp)) left.push(e.name);
    assert.deepEqual(left.sort(), ["spool-nats-stage-run1-other.live", "unrelated"]);
  } finally {
    if (before === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", before);
    await Deno.remove(tmp, { recursive: true });
  }
});
