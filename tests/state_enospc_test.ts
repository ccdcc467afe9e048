/**
 * A full disk (real ENOSPC from a 64 KiB tmpfs, Linux and root only) while a snapshot is written:
 * the save fails with `SnapshotWriteError` naming the file and the OS reason, leaves nothing
 * behind, and the store works again once there is room.
 */

import assert from "node:assert/strict";
import { Frame } from "../src/frame/mod.ts";
import { StatefulLoop } from "../src/loop/mod.ts";
import {
  jsonState,
  type PersistentState,
  SnapshotWriteError,
  StateComponentError,
  StateStore,
} from "../src/state/mod.ts";

const CAN_MOUNT = Deno.build.os === "linux" && Deno.uid() === 0;

async function run(cmd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Run `fn` with a fresh 64 KiB tmpfs mounted at a temporary directory. */
async function withTinyDisk(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "spool-enospc-" });
  await run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", root);
  try {
    await fn(root);
  } finally {
    await run("umount", root);
    await Deno.remove(root, { recursive: true });
  }
}

/** Fill the file system holding `path` until the kernel says ENOSPC. */
async function fill(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true });
  try {
    const chunk = new Uint8Array(4096);
    for (;;) await file.write(chunk);
  } catch (error) {
    if (!/No space left|os error 28/i.test(String(error))) throw error;
  } finally {
    file.close();
  }
}

async function leftovers(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name !== ".lock") out.push(e.name);
  return out;
}

const opts = { ignore: !CAN_MOUNT, sanitizeResources: true, sanitizeOps: true };

Deno.test(
  "ENOSPC while a component's file is written: SnapshotWriteError naming the file",
  opts,
  async () => {
    await withTinyDisk(async (root) => {
      const dir = `${root}/store`;
      await using store = new StateStore(dir);
      const big = store.register("big", jsonState("x".repeat(200_000)));
      await assert.rejects(
        store.save(),
        (e: unknown) =>
          e instanceof SnapshotWriteError && !(e instanceof StateComponentError) &&
          e.file === "big/value.json" && /write "big\/value\.json"/.test(e.message) &&
          /No space left on device/.test(e.message) && !/threw/.test(e.message),
      );
      assert.deepEqual(await leftovers(dir), []); // the temporary directory is gone
      big.value = "small";
      const path = await store.save(); // room again
      assert.ok(path.endsWith("000000000001.snapshot"));
    });
  },
);

Deno.test(
  "ENOSPC while the manifest is written: SnapshotWriteError naming manifest.json",
  opts,
  async () => {
    await withTinyDisk(async (root) => {
      const dir = `${root}/store`;
      const filler = `${root}/filler`;
      await using store = new StateStore(dir);
      let full = true;
      const component: PersistentState = {
        async saveState(_dir, ctx) {
          await ctx.writeJson("v.json", { ok: true });
          if (full) await fill(filler); // the disk fills up after the component's files
        },
        loadState() {},
      };
      store.register("c", component);
      await assert.rejects(
        store.save(),
        (e: unknown) =>
          e instanceof SnapshotWriteError && e.file === "manifest.json" &&
          /No space left on device/.test(e.message),
      );
      assert.deepEqual(await leftovers(dir), []);
      assert.deepEqual(await store.list(), []);
      await Deno.remove(filler);
      full = false;
      await store.save();
      assert.equal((await store.list()).length, 1);
    });
  },
);

Deno.test(
  "ENOSPC during a StatefulLoop checkpoint reaches the caller as SnapshotWriteError",
  opts,
  async () => {
    await withTinyDisk(async (root) => {
      const dir = `${root}/loop`;
      {
        await using loop = await StatefulLoop.open(dir, { checkpoint: { everyItems: 1 } });
        const agg = loop.state("agg", { n: 0 });
        const frames = Array.from({ length: 4 }, () => new Frame({ v: new Float64Array(4096) }));
        await assert.rejects(
          (async () => {
            for await (const step of loop.iterate(frames)) {
              if (!step.final) agg.n++;
              loop.buffer("v", step.final ? undefined : { v: step.item }, { memoryLimitMb: 1 });
            }
          })(),
          (e: unknown) => e instanceof SnapshotWriteError && /No space left/.test(e.message),
        );
        assert.ok(agg.n >= 1);
      }
      assert.deepEqual((await leftovers(dir)).filter((n) => n.startsWith(".tmp-")), []);
    });
  },
);

Deno.test(
  "ENOSPC writing a loop state's typed array: a SnapshotWriteError, no unhandled rejection",
  opts,
  async () => {
    await withTinyDisk(async (root) => {
      await using loop = await StatefulLoop.open(`${root}/loop`, { checkpoint: { everyItems: 1 } });
      const s = loop.state("weights", {
        w: new Float64Array(32 * 1024),
        more: new Float64Array(8),
      });
      await assert.rejects(
        (async () => {
          for await (const n of loop.items([1, 2])) s.w[0] = n;
        })(),
        (e: unknown) =>
          e instanceof SnapshotWriteError && /write "loop\//.test(e.message) &&
          /No space left/.test(e.message),
      );
    });
  },
);
