/**
 * The store's lock across processes: a second process is refused while the writer lives, and the
 * lock of a SIGKILLed writer is stale and taken over.
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { StateStore, StoreLockedError } from "../src/state/mod.ts";
import { withTempDir } from "./temp_dir.ts";

const LOCK_CHILD = fileURLToPath(new URL("./fixtures/state_lock_child.ts", import.meta.url));

const withDir = (fn: (dir: string) => void | Promise<void>) => withTempDir(fn, "spool-state-");

async function runLockChild(mode: "try", dir: string): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", LOCK_CHILD, mode, dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(text);
}

Deno.test("lock: a second process is refused with StoreLockedError naming our pid", async () => {
  await withDir(async (dir) => {
    {
      await using _store = new StateStore(dir);
      const result = await runLockChild("try", dir);
      assert.deepEqual(result, {
        ok: false,
        name: "StoreLockedError",
        isLocked: true,
        holderPid: Deno.pid,
      });
    }
    // Released: the child can now take it, and it is not stale.
    assert.deepEqual(await runLockChild("try", dir), { ok: true, stale: null });
  });
});

Deno.test("lock: the lock of a SIGKILLed writer is stale and taken over", async () => {
  await withDir(async (dir) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", LOCK_CHILD, "hold", dir],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("locked")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    assert.match(text, /locked/);
    // While it lives, we are refused.
    assert.throws(() => new StateStore(dir), StoreLockedError);
    child.kill("SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL");
    while (!(await reader.read()).done) { /* drain */ }
    await child.stderr.cancel();
    const seen: number[] = [];
    await using store = new StateStore(dir, { onStaleLock: (h) => seen.push(h.pid) });
    assert.equal(store.staleLock?.pid, child.pid);
    assert.deepEqual(seen, [child.pid]);
  });
});
