/**
 * Corruption: every kind of damage is a SnapshotCorruptError naming the file, detected before any
 * component is loaded; older snapshots stay loadable; foreign files are ignored.
 */

import assert from "node:assert/strict";
import {
  arrayState,
  jsonState,
  type LoadContext,
  type SaveContext,
  SnapshotCorruptError,
  StateStore,
} from "../src/state/mod.ts";
import { decodeManifest, encodeManifest, type Manifest } from "../src/state/manifest.ts";

interface Fixture {
  dir: string;
  first: string;
  second: string;
}

/** A store with two snapshots of three components (JSON, Float64Array, a plain file). */
async function twoSnapshots(dir: string): Promise<Fixture> {
  await using store = new StateStore(dir);
  const meta = store.register("meta", jsonState({ version: 1 }));
  const data = store.register("data", arrayState(new Float64Array(1000).fill(1)));
  const plain = { text: "first" };
  store.register("plain", {
    saveState: (d: string) => Deno.writeTextFile(`${d}/note.txt`, plain.text),
    loadState() {},
  });
  const first = await store.save();
  meta.value.version = 2;
  data.value.fill(2);
  plain.text = "second";
  const second = await store.save();
  return { dir, first, second };
}

/** A store whose components count their loadState calls. */
function spyStore(dir: string, options = {}) {
  const store = new StateStore(dir, options);
  const calls: string[] = [];
  const values: Record<string, unknown> = {};
  for (const name of ["meta", "data", "plain"]) {
    store.register(name, {
      saveState(_d: string, _ctx: SaveContext) {},
      loadState(_d: string, ctx: LoadContext) {
        calls.push(name);
        if (name === "meta") values.meta = ctx.readJson("value.json");
        if (name === "data") values.data = ctx.readArray("value.bin");
      },
    });
  }
  return { store, calls, values };
}

function editManifest(snapshot: string, edit: (m: Manifest) => void, reseal = true): void {
  const path = `${snapshot}/manifest.json`;
  const bytes = Deno.readFileSync(path);
  const m = decodeManifest(snapshot, bytes);
  edit(m);
  if (reseal) {
    Deno.writeFileSync(path, encodeManifest(m));
  } else {
    const obj = JSON.parse(new TextDecoder().decode(bytes));
    edit(obj);
    Deno.writeTextFileSync(path, JSON.stringify(obj));
  }
}

interface Case {
  name: string;
  damage: (snapshot: string) => void;
  file: string;
  reason: RegExp;
  listed: boolean; // still listed (list() reads manifests only)
}

const CASES: Case[] = [
  {
    name: "truncated array file",
    damage: (s) => Deno.truncateSync(`${s}/data/value.bin`, 4000),
    file: "data/value.bin",
    reason: /size 4000 does not match the manifest's 8000/,
    listed: true,
  },
  {
    name: "file grown by appending",
    damage: (s) =>
      Deno.writeFileSync(`${s}/meta/value.json`, new Uint8Array([32]), { append: true }),
    file: "meta/value.json",
    reason: /does not match/,
    listed: true,
  },
  {
    name: "one flipped byte in an array file",
    damage: (s) => {
      const b = Deno.readFileSync(`${s}/data/value.bin`);
      b[5000]! ^= 0x01;
      Deno.writeFileSync(`${s}/data/value.bin`, b);
    },
    file: "data/value.bin",
    reason: /crc32 [0-9a-f]{8} does not match the manifest's [0-9a-f]{8}/,
    listed: true,
  },
  {
    name: "one flipped byte in a plain file",
    damage: (s) => Deno.writeTextFileSync(`${s}/plain/note.txt`, "secone"),
    file: "plain/note.txt",
    reason: /does not match/,
    listed: true,
  },
  {
    name: "missing file",
    damage: (s) => Deno.removeSync(`${s}/meta/value.json`),
    file: "meta/value.json",
    reason: /the file is missing/,
    listed: true,
  },
  {
    name: "file replaced by a directory",
    damage: (s) => {
      Deno.removeSync(`${s}/plain/note.txt`);
      Deno.mkdirSync(`${s}/plain/note.txt`);
    },
    file: "plain/note.txt",
    reason: /not a regular file/,
    listed: true,
  },
  {
    name: "missing manifest",
    damage: (s) => Deno.removeSync(`${s}/manifest.json`),
    file: "manifest.json",
    reason: /the manifest is missing/,
    listed: false,
  },
  {
    name: "truncated manifest",
    damage: (s) => Deno.truncateSync(`${s}/manifest.json`, 100),
    file: "manifest.json",
    reason: /not valid JSON/,
    listed: false,
  },
  {
    name: "manifest edited without its self-checksum (a digit of a size)",
    damage: (s) => editManifest(s, (m) => (m.files[0]!.size += 1), false),
    file: "manifest.json",
    reason: /manifest's own checksum does not match/,
    listed: false,
  },
  {
    name: "manifest resealed with a wrong file checksum",
    damage: (s) =>
      editManifest(s, (m) => {
        const f = m.files.find((f) => f.path === "data/value.bin")!;
        f.checksum = f.checksum === "00000000" ? "00000001" : "00000000";
      }),
    file: "data/value.bin",
    reason: /does not match the manifest's 0000000/,
    listed: true,
  },
  {
    name: "manifest of an unsupported version",
    damage: (s) => editManifest(s, (m) => (m.version = 99)),
    file: "manifest.json",
    reason: /unsupported manifest version 99/,
    listed: false,
  },
  {
    name: "manifest claiming big-endian data",
    damage: (s) => editManifest(s, (m) => (m.littleEndian = false)),
    file: "manifest.json",
    reason: /big-endian/,
    listed: true,
  },
  {
    name: "manifest whose sequence disagrees with the directory name",
    damage: (s) => editManifest(s, (m) => (m.sequence = 7)),
    file: "manifest.json",
    reason: /sequence 7 does not match the directory name/,
    listed: false,
  },
  {
    name: "manifest with an escaping file path",
    damage: (s) => editManifest(s, (m) => (m.files[0]!.path = "meta/../../x")),
    file: "manifest.json",
    reason: /invalid file path/,
    listed: false,
  },
  {
    name: "manifest whose dtype disagrees with the size",
    damage: (s) =>
      editManifest(s, (m) => {
        m.files.find((f) => f.path === "data/value.bin")!.length = 999;
      }),
    file: "manifest.json",
    reason: /dtype, length and size disagree/,
    listed: false,
  },
];

for (const c of CASES) {
  Deno.test(`corruption: ${c.name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "spool-corrupt-" });
    try {
      const { first, second } = await twoSnapshots(dir);
      c.damage(second);
      const { store, calls, values } = spyStore(dir);
      await using spy = store;
      const check = (e: unknown) => {
        assert.ok(e instanceof SnapshotCorruptError, String(e));
        assert.equal(e.file, c.file);
        assert.equal(e.path, second);
        assert.match(e.message, c.reason);
        assert.ok(e.message.includes(JSON.stringify(c.file)), e.message);
        return true;
      };
      // Explicit path, verify, and latest (no fallback) all throw, nothing loaded.
      await assert.rejects(spy.load(second), check);
      await assert.rejects(spy.verify(second), check);
      await assert.rejects(spy.load("latest"), check);
      assert.deepEqual(calls, [], "no component may be loaded from a damaged snapshot");
      // list() reads manifests only.
      const listed = (await spy.list()).map((s) => s.path);
      assert.deepEqual(listed, c.listed ? [first, second] : [first]);
      // Fallback reports the damaged snapshot and loads the previous one.
      const reported: SnapshotCorruptError[] = [];
      assert.equal(
        await spy.load("latest", { fallback: true, onCorrupt: (e) => reported.push(e) }),
        first,
      );
      assert.equal(reported.length, 1);
      check(reported[0]);
      assert.deepEqual(calls, ["meta", "data", "plain"]);
      assert.deepEqual(values.meta, { version: 1 });
      assert.equal((values.data as Float64Array)[999], 1);
      // The older snapshot stays loadable explicitly.
      assert.equal(await spy.load(first), first);
      // A new save goes past the damaged one and becomes latest.
      assert.ok((await spy.save()).endsWith("000000000003.snapshot"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("foreign files and directories in the store are ignored and kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-foreign-" });
  try {
    const { first, second } = await twoSnapshots(dir);
    const foreign = [
      "README.txt",
      "notes",
      "12.snapshot",
      "000000000099.snapshot", // a file, not a directory
      "000000000098.snapshot.bak",
      ".tmp-user-dir",
      ".tmp-5-notours",
      ".trash",
    ];
    Deno.writeTextFileSync(`${dir}/README.txt`, "hello");
    Deno.mkdirSync(`${dir}/notes`);
    Deno.mkdirSync(`${dir}/12.snapshot`);
    Deno.writeTextFileSync(`${dir}/000000000099.snapshot`, "not a dir");
    Deno.mkdirSync(`${dir}/000000000098.snapshot.bak`);
    Deno.mkdirSync(`${dir}/.tmp-user-dir`);
    Deno.mkdirSync(`${dir}/.tmp-5-notours`);
    Deno.writeTextFileSync(`${dir}/.trash`, "x");
    // An unlisted extra file inside a snapshot is ignored too.
    Deno.writeTextFileSync(`${second}/meta/extra.txt`, "extra");
    {
      const { store, values } = spyStore(dir);
      await using s = store;
      assert.deepEqual((await s.list()).map((i) => i.path), [first, second]);
      assert.equal(await s.load("latest"), second);
      assert.deepEqual(values.meta, { version: 2 });
      // The file named like snapshot 99 pushes the next sequence past it: no name clash.
      assert.ok((await s.save()).endsWith("000000000100.snapshot"));
    }
    const after = new Set([...Deno.readDirSync(dir)].map((e) => e.name));
    for (const f of foreign) assert.ok(after.has(f), `${f} must not be deleted`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("leftovers of a crashed save or prune are not snapshots and are cleaned on open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-leftover-" });
  try {
    const { second } = await twoSnapshots(dir);
    // A save that died before its rename: files but a half-written manifest, or none.
    const tmp = `${dir}/.tmp-3-0123456789ab`;
    Deno.mkdirSync(`${tmp}/meta`, { recursive: true });
    Deno.writeTextFileSync(`${tmp}/meta/value.json`, '{"version":3}');
    Deno.writeTextFileSync(`${tmp}/manifest.json`, '{"format":"spool-sta');
    // A prune that died mid-delete.
    const trash = `${dir}/.trash-1-0123456789ab`;
    Deno.mkdirSync(`${trash}/data`, { recursive: true });
    {
      // A read-only store neither lists nor deletes them.
      const { store, values } = spyStore(dir, { readOnly: true });
      await using reader = store;
      assert.equal((await reader.list()).length, 2);
      assert.equal(await reader.load("latest"), second);
      assert.deepEqual(values.meta, { version: 2 });
      assert.ok(Deno.statSync(tmp).isDirectory);
    }
    {
      const { store } = spyStore(dir);
      await using writer = store;
      assert.throws(() => Deno.statSync(tmp), Deno.errors.NotFound);
      assert.throws(() => Deno.statSync(trash), Deno.errors.NotFound);
      assert.ok((await writer.save()).endsWith("000000000003.snapshot"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a snapshot directory without a manifest is reported by latest, never loaded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-nomanifest-" });
  try {
    const { second } = await twoSnapshots(dir);
    // Something (not spool) created an empty directory with a snapshot name.
    Deno.mkdirSync(`${dir}/000000000003.snapshot`);
    const { store, calls } = spyStore(dir);
    await using s = store;
    await assert.rejects(s.load("latest"), SnapshotCorruptError);
    assert.deepEqual(calls, []);
    assert.equal(await s.load("latest", { fallback: true }), second);
    assert.equal((await s.latest())?.path, second);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fallback over only corrupt snapshots reports each and loads nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-allbad-" });
  try {
    const { first, second } = await twoSnapshots(dir);
    Deno.truncateSync(`${first}/data/value.bin`, 0);
    Deno.removeSync(`${second}/manifest.json`);
    const { store, calls } = spyStore(dir);
    await using s = store;
    const reported: string[] = [];
    const loaded = await s.load("latest", {
      fallback: true,
      onCorrupt: (e) => reported.push(`${e.path}:${e.file}`),
    });
    assert.equal(loaded, undefined);
    assert.deepEqual(reported, [`${second}:manifest.json`, `${first}:data/value.bin`]);
    assert.deepEqual(calls, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
