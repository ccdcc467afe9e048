// Crash test: a checkpointed pipeline (pool node + stateful aggregation + idempotent file sink)
// is SIGKILLed at random moments, then resumed until it finishes. The final state must equal an
// uninterrupted run's, and every output file (named by its sequence number) must hold exactly
// the uninterrupted run's output for that position.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { killAfter } from "./kill_helpers.ts";

const CHILD = fileURLToPath(new URL("./fixtures/pipeline_crash_child.ts", import.meta.url));
const ITEMS = 4000;
const KILLS = 20;

function spawn(store: string, out: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, store, out, String(ITEMS)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess): Promise<string> {
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return text;
}

async function outputs(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    if (/^\d{12}\.json$/.test(e.name)) {
      files.set(e.name, await Deno.readTextFile(`${dir}/${e.name}`));
    }
  }
  return files;
}

Deno.test("pipeline survives SIGKILL at random moments: same state, outputs exactly once", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-pipeline-crash-" });
  try {
    // Uninterrupted reference.
    await finish(spawn(`${root}/ref-store`, `${root}/ref-out`));
    const refFinal = await Deno.readTextFile(`${root}/ref-out/final.json`);
    const refOut = await outputs(`${root}/ref-out`);
    assert.equal(refOut.size, ITEMS);

    // Kill cycles: each cycle kills a fresh run at random moments until it has been killed
    // enough times overall or a run finishes before its kill; then it is resumed to the end
    // and checked. Usually one cycle does all the kills.
    let kills = 0;
    let resumedRuns = 0;
    const positions: number[] = [];
    for (let cycle = 0; kills < KILLS; cycle++) {
      const store = `${root}/store${cycle}`;
      const out = `${root}/out${cycle}`;
      while (kills < KILLS) {
        const child = spawn(store, out);
        const delay = 150 + Math.floor(Math.random() * 650);
        const result = await killAfter(child, delay);
        if (result === "killed") kills++;
        const { stdout } = await child.output();
        for (const line of new TextDecoder().decode(stdout).split("\n")) {
          if (!line) continue;
          const msg = JSON.parse(line);
          if (msg.resumed && !msg.done) {
            resumedRuns++;
            positions.push(msg.resumed.positions.s);
          }
        }
        if (result === "exit") break; // finished before its kill: check this cycle
      }
      // Resume to the end.
      for (let i = 0; i < 5; i++) {
        await finish(spawn(store, out));
        try {
          await Deno.stat(`${out}/final.json`);
          break;
        } catch {
          // not yet
        }
      }
      assert.equal(await Deno.readTextFile(`${out}/final.json`), refFinal);
      const got = await outputs(out);
      assert.equal(got.size, ITEMS);
      for (const [name, text] of refOut) assert.equal(got.get(name), text, name);
    }
    assert.ok(kills >= KILLS);
    assert.ok(resumedRuns >= 1, "at least one run resumed from a checkpoint");
    console.log(`kills=${kills} resumed=${resumedRuns} positions=${positions.join(",")}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
