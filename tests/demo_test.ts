/**
 * End-to-end: the demo (pipeline + pool + stateful nodes + a concurrent StatefulLoop writing part
 * files), SIGKILLed at random moments and re-run until it finishes, writes the same summary,
 * dead letters and part files (names and bytes) as an uninterrupted run.
 */
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

const demo = fileURLToPath(new URL("../examples/demo.ts", import.meta.url));
const decoder = new TextDecoder();

function run(dir: string, extra: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      demo,
      `--dir=${dir}`,
      "--readings=250000",
      "--files=5",
      "--part-mb=0.2",
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
  });
}

async function finish(dir: string, extra: string[] = []): Promise<string> {
  const out = await run(dir, extra).output();
  const stdout = decoder.decode(out.stdout);
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  return stdout;
}

/** Every output file (relative name → sha256), plus the spool's leftovers. */
async function outputs(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(`${dir}/${rel}`)) {
      const path = `${rel}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else {
        files[path] = createHash("sha256").update(await Deno.readFile(`${dir}/${path}`)).digest(
          "hex",
        );
      }
    }
  };
  await walk("out");
  await walk("spool");
  return files;
}

Deno.test("demo: SIGKILLed runs resume to the same outputs as an uninterrupted run", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-demo-test-" });
  try {
    const clean = `${root}/clean`;
    const first = await finish(clean);
    assert.match(first, /pipeline: starting/);
    assert.match(first, /done in .* dead letters/);
    const expected = await outputs(clean);
    const parts = Object.keys(expected).filter((f) => f.startsWith("out/parts/"));
    assert.ok(parts.length >= 8, `expected several part files, got ${parts.length}`);
    assert.ok(expected["out/summary.json"] && expected["out/dead-letters.ndjson"]);
    const summary = JSON.parse(await Deno.readTextFile(`${clean}/out/summary.json`));
    assert.ok(summary.deadLetters > 0, "the dataset has dropouts and malformed lines");
    assert.equal(summary.readings + summary.deadLetters, 250000);
    assert.deepEqual(Object.keys(expected).filter((f) => f.startsWith("spool/")), [
      "spool/done.json",
    ]);

    const killed = `${root}/killed`;
    // Share the generated dataset: copy it so both runs read identical files.
    await Deno.mkdir(`${killed}/data`, { recursive: true });
    for await (const e of Deno.readDir(`${clean}/data`)) {
      await Deno.copyFile(`${clean}/data/${e.name}`, `${killed}/data/${e.name}`);
    }
    let kills = 0;
    let resumed = 0;
    let finishedEarly = 0;
    // At least 6 real kills; a run that finishes before its kill starts a new cycle from scratch
    // (its outputs were checked), so every kill lands in the middle of some run.
    for (let attempt = 0; kills < 6 && attempt < 20; attempt++) {
      const child = run(killed, ["--save-every-ms=40"]).spawn();
      // Read stdout as it comes; kill at a random moment after the run started processing
      // (so kills land mid-run whatever the machine's load), not during Deno's startup.
      let stdout = "";
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const reading = (async () => {
        for await (const bytes of child.stdout) {
          stdout += decoder.decode(bytes, { stream: true });
          if (stdout.includes("pipeline:")) started();
        }
        started();
      })();
      const stderr = new Response(child.stderr).text();
      await running;
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 1500));
      let killedNow = true;
      try {
        child.kill("SIGKILL");
      } catch {
        killedNow = false; // already exited
      }
      const out = await child.status;
      await reading;
      const errors = await stderr;
      if (/resumed from/.test(stdout)) resumed++;
      for (const l of stdout.split("\n")) if (/resumed from/.test(l)) console.log(l);
      if (killedNow && out.signal === "SIGKILL") kills++;
      else if (out.code === 0 && /done in/.test(stdout)) {
        finishedEarly++;
        assert.deepEqual(await outputs(killed), expected);
        await Deno.remove(`${killed}/state`, { recursive: true });
        await Deno.remove(`${killed}/out`, { recursive: true });
        await Deno.remove(`${killed}/spool`, { recursive: true });
      } else assert.fail(`unexpected exit ${out.code}: ${errors}`);
    }
    assert.ok(kills >= 6, `only ${kills} kills landed`);
    const last = await finish(killed);
    if (/resumed from/.test(last)) resumed++;
    console.log(`kills: ${kills}, runs that resumed: ${resumed}, finished early: ${finishedEarly}`);
    assert.ok(resumed >= 1, "no run ever resumed");
    assert.deepEqual(await outputs(killed), expected);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
