/**
 * End-to-end: the demo, SIGKILLed at random moments and re-run until it finishes, writes the
 * same summary as an uninterrupted run (state exactly-once through StateStore snapshots).
 */
import assert from "node:assert/strict";

const demo = new URL("../examples/demo.ts", import.meta.url).pathname;

function run(dir: string, extra: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", demo, `--dir=${dir}`, "--readings=600000", "--files=6", ...extra],
    stdout: "piped",
    stderr: "piped",
  });
}

async function finish(dir: string): Promise<string> {
  const out = await run(dir).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return stdout;
}

Deno.test("demo: SIGKILLed runs resume to the same summary as an uninterrupted run", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-demo-test-" });
  try {
    const clean = `${root}/clean`;
    await finish(clean);
    const expected = await Deno.readTextFile(`${clean}/out/summary.json`);

    const killed = `${root}/killed`;
    // Share the generated dataset: copy it so both runs read identical files.
    await Deno.mkdir(`${killed}/data`, { recursive: true });
    for await (const e of Deno.readDir(`${clean}/data`)) {
      await Deno.copyFile(`${clean}/data/${e.name}`, `${killed}/data/${e.name}`);
    }
    let resumedSeen = 0;
    for (let i = 0; i < 6; i++) {
      const child = run(killed, ["--save-every-ms=20"]).spawn();
      await new Promise((r) => setTimeout(r, 250 + Math.random() * 500));
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      const out = await child.output();
      if (new TextDecoder().decode(out.stdout).includes("resumed from snapshot")) resumedSeen++;
    }
    const last = await finish(killed);
    assert.match(last, /resumed from snapshot|done:/);
    console.log(`runs that resumed: ${resumedSeen}`);
    assert.ok(resumedSeen + (last.includes("resumed") ? 1 : 0) >= 1, "no run ever resumed");
    assert.equal(await Deno.readTextFile(`${killed}/out/summary.json`), expected);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
