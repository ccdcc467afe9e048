// Crash test of holes: a pipeline dead-lettering clusters of items around consume-group
// boundaries is SIGKILLed at random moments and resumed to the end. The outputs (by sequence
// number), the final state and the dead letters must equal an uninterrupted run's, and the
// dead-letter total of the last run must count each dead letter once.
import assert from "node:assert/strict";
import { killAfter } from "./kill_helpers.ts";

const CHILD = new URL("./fixtures/pipeline_holes_crash_child.ts", import.meta.url).pathname;
const ITEMS = 1500;
const KILLS = 8;

function spawn(store: string, out: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, store, out, String(ITEMS)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function finish(child: Deno.ChildProcess): Promise<void> {
  const { code, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

async function files(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".json")) {
      out.set(e.name, await Deno.readTextFile(`${dir}/${e.name}`));
    }
  }
  return out;
}

Deno.test("holes survive SIGKILL: same outputs, same dead letters, counted once", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-holes-crash-" });
  try {
    await finish(spawn(`${root}/ref-store`, `${root}/ref`));
    const ref = {
      final: JSON.parse(await Deno.readTextFile(`${root}/ref/final.json`)),
      agg: await files(`${root}/ref/agg`),
      sum: await files(`${root}/ref/sum4`),
      dl: await files(`${root}/ref/dl`),
    };
    assert.ok(ref.dl.size > 100, `dead letters: ${ref.dl.size}`);
    assert.equal(ref.final.deadLetters, ref.dl.size);
    const store = `${root}/store`;
    const out = `${root}/out`;
    let kills = 0;
    let resumed = 0;
    while (kills < KILLS) {
      const child = spawn(store, out);
      const delay = 200 + Math.floor(Math.random() * 700);
      const result = await killAfter(child, delay);
      if (result === "killed") kills++;
      const { stdout } = await child.output();
      for (const line of new TextDecoder().decode(stdout).split("\n")) {
        if (line && JSON.parse(line).resumed && !JSON.parse(line).done) resumed++;
      }
      if (result === "exit") break;
    }
    for (let i = 0; i < 5; i++) {
      await finish(spawn(store, out));
      try {
        await Deno.stat(`${out}/final.json`);
        break;
      } catch {
        // not yet
      }
    }
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${out}/final.json`)), ref.final);
    assert.deepEqual(await files(`${out}/agg`), ref.agg);
    assert.deepEqual(await files(`${out}/sum4`), ref.sum);
    assert.deepEqual(await files(`${out}/dl`), ref.dl);
    assert.ok(resumed >= 1, "at least one run resumed from a checkpoint");
    console.log(`kills=${kills} resumed=${resumed} deadLetters=${ref.dl.size}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
