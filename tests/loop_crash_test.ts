/**
 * Crash/resume: a child process runs a StatefulLoop over 30,000 items with two cascaded buffer
 * sites and an idempotent file sink; it is SIGKILLed at random moments (>= 20 times), rerun
 * each time until it completes. The final state and the set of output files must be
 * byte-identical to an uninterrupted run: no gap, no duplicate, nothing lost.
 */
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { StateStore } from "../src/state/mod.ts";

const N = 30_000;
const KILLS = 22;
const JOB = fileURLToPath(new URL("./fixtures/loop_crash_job.ts", import.meta.url));

async function readTree(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) out.set(e.name, await Deno.readFile(`${dir}/${e.name}`));
  }
  return out;
}

function spawn(loopDir: string, outDir: string) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", JOB, loopDir, outDir, String(N)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function runChild(loopDir: string, outDir: string, killAfterMs?: number) {
  const child = spawn(loopDir, outDir);
  const started = performance.now();
  const timer = killAfterMs === undefined ? undefined : setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, killAfterMs);
  const out = await child.output();
  clearTimeout(timer);
  return {
    ms: performance.now() - started,
    done: new TextDecoder().decode(out.stdout).includes("DONE"),
    signal: out.signal,
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function checkpointPosition(loopDir: string): Promise<number> {
  try {
    await using store = new StateStore(loopDir, { readOnly: true });
    const latest = await store.latest();
    return (latest?.meta as { position?: number } | undefined)?.position ?? 0;
  } catch {
    return 0; // the directory was not created yet
  }
}

Deno.test("loop crash test: SIGKILL at random moments, resume, identical outputs", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-loop-crash-" });
  try {
    // Warm-up (compiles the job), then the uninterrupted reference (a child process, timed).
    assert.ok((await runChild(`${root}/warm-loop`, `${root}/warm-out`)).done);
    const full = await runChild(`${root}/ref-loop`, `${root}/ref-out`);
    assert.ok(full.done, full.stderr);
    const reference = await readTree(`${root}/ref-out`);
    const state = JSON.parse(new TextDecoder().decode(reference.get("state.json")));
    assert.equal(state.position, N);
    assert.equal(state.count, N);
    // every item's rows are in the a-files exactly once, in order
    const aFiles = [...reference.keys()].filter((n) => n.startsWith("a-")).sort();
    assert.ok(aFiles.length > 50, `only ${aFiles.length} flushes`);
    assert.deepEqual(aFiles, aFiles.map((_, i) => `a-${String(i).padStart(6, "0")}.bin`));
    let expectId = 0;
    let rowsSeen = 0;
    for (const name of aFiles) {
      const bytes = reference.get(name)!;
      const rows = bytes.byteLength / 12;
      const ids = new Int32Array(bytes.slice(rows * 8).buffer);
      for (let r = 0; r < rows; r++) {
        if (ids[r] !== Math.floor((rowsSeen + r) / 8)) {
          assert.fail(`row ${rowsSeen + r} of ${name}`);
        }
      }
      rowsSeen += rows;
      expectId = Math.floor(rowsSeen / 8);
    }
    assert.equal(expectId, N);

    // Startup time of a child (a rerun on the finished loop only replays the skip).
    const base = (await runChild(`${root}/ref-loop`, `${root}/ref-out`)).ms;
    // Kill windows are a fraction of the loop's own run time, so the job needs many runs.
    const firstWindow = Math.max(20, (full.ms - base) / 12);

    // Killed runs. If the job completes before KILLS kills (the machine got faster than the
    // timed reference suggested), start the sequence again in fresh directories with a shorter
    // kill window, so one sequence always has at least KILLS kills.
    const loopDir = `${root}/loop`;
    const outDir = `${root}/out`;
    let kills = 0;
    let restarts = 0;
    let positions: number[] = [];
    let window = firstWindow;
    while (kills < KILLS) {
      const delay = Math.round(base * 0.8 + Math.random() * window);
      const r = await runChild(loopDir, outDir, delay);
      if (r.done) {
        assert.ok(++restarts <= 4, "the job keeps completing before it can be killed enough");
        await Deno.remove(loopDir, { recursive: true });
        await Deno.remove(outDir, { recursive: true });
        kills = 0;
        positions = [];
        window = Math.max(10, window / 2);
        continue;
      }
      assert.equal(r.signal, "SIGKILL", `child failed on its own: code ${r.code}\n${r.stderr}`);
      kills++;
      positions.push(await checkpointPosition(loopDir));
    }
    // Resume until done.
    for (let i = 0; i < 20; i++) {
      const r = await runChild(loopDir, outDir);
      assert.equal(r.code, 0, r.stderr);
      if (r.done) break;
    }
    const midRun = positions.filter((p) => p > 0 && p < N);
    console.log(
      `full=${full.ms | 0}ms base=${
        base | 0
      }ms kills=${kills} restarts=${restarts} checkpointed positions after kills: ` +
        positions.join(","),
    );
    assert.ok(kills >= 20, `only ${kills} kills before the job finished`);
    assert.ok(new Set(midRun).size >= 5, `kills landed mid-run too rarely: ${positions}`);

    const got = await readTree(outDir);
    assert.deepEqual([...got.keys()].sort(), [...reference.keys()].sort());
    for (const [name, bytes] of reference) {
      assert.deepEqual(got.get(name), bytes, `file ${name} differs`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
