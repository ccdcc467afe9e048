// SIGTERM / SIGINT to `spool run` with a synchronous `range` source: the run gives signal
// handlers a turn, stops gracefully with a last checkpoint, exits 130 / 143 (stopped, resumable:
// see docs/cli.md), and a rerun resumes there.
import assert from "node:assert/strict";

const CLI = new URL("../src/pipeline/cli.ts", import.meta.url).pathname;
const FNS = new URL("./fixtures/pipeline_fns.ts", import.meta.url).pathname;
/** Far more items than the test waits for: only the signal can end the run in time. */
const RANGE = 2_000_000_000;

function spawnCli(desc: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "run", desc],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Collect stderr lines; resolves `seen` at the first line matching `pattern`. */
function watch(child: Deno.ChildProcess, pattern: RegExp) {
  const lines: string[] = [];
  let onSeen!: () => void;
  const seen = new Promise<void>((r) => (onSeen = r));
  const done = (async () => {
    let buf = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (pattern.test(line)) onSeen();
      }
    }
  })();
  return { lines, seen, done };
}

/** Resolves with the exit status, or with "timeout" after `ms` (the child is then killed). */
async function exitWithin(child: Deno.ChildProcess, ms: number) {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => (t = setTimeout(() => r("timeout"), ms)));
  const r = await Promise.race([child.status, timeout]);
  clearTimeout(t);
  if (r === "timeout") {
    child.kill("SIGKILL");
    await child.status;
  }
  return r;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`CLI: ${signal} stops a run over a range source with a last checkpoint`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "spool-cli-signal-" });
    try {
      const desc = {
        nodes: [
          { name: "n", source: true },
          { name: "sq", inputs: ["n"], fn: { module: FNS, export: "square" } },
          { name: "c", inputs: ["sq"], state: { n: 0 }, fn: { module: FNS, export: "count" } },
        ],
        sources: { n: { range: RANGE } },
        sinks: { c: { discard: true } },
        checkpoint: { store: "ckpt", every: { items: 100_000 } },
      };
      await Deno.writeTextFile(`${dir}/p.json`, JSON.stringify(desc));
      const child = spawnCli(`${dir}/p.json`);
      const out = watch(child, /^spool: checkpoint /);
      // Signal once the run is under way (its first checkpoint committed), or after 5 s.
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([out.seen, new Promise((r) => (t = setTimeout(r, 5000)))]);
      clearTimeout(t);
      child.kill(signal);
      const status = await exitWithin(child, 30_000);
      await out.done;
      assert.notEqual(status, "timeout", `no exit after ${signal}:\n${out.lines.join("\n")}`);
      assert.equal(
        (status as Deno.CommandStatus).code,
        signal === "SIGINT" ? 130 : 143,
        out.lines.join("\n"),
      );
      const stopping = out.lines.findIndex((l) => l.startsWith(`spool: ${signal}: stopping`));
      assert.ok(stopping >= 0, out.lines.join("\n"));
      assert.ok(
        out.lines.slice(stopping).some((l) => l.startsWith("spool: checkpoint ")),
        `no checkpoint after the signal:\n${out.lines.join("\n")}`,
      );

      // The rerun resumes where the stop left off (then is stopped the same way).
      const again = spawnCli(`${dir}/p.json`);
      const out2 = watch(again, /^spool: resumed from checkpoint/);
      await Promise.race([out2.seen, new Promise((r) => (t = setTimeout(r, 10_000)))]);
      clearTimeout(t);
      again.kill("SIGTERM");
      const status2 = await exitWithin(again, 30_000);
      await out2.done;
      assert.notEqual(status2, "timeout", out2.lines.join("\n"));
      const resumed = out2.lines.find((l) => l.startsWith("spool: resumed from checkpoint"));
      assert.ok(resumed, out2.lines.join("\n"));
      const at = Number(/"n":(\d+)/.exec(resumed)?.[1]);
      assert.ok(at > 0 && at < RANGE, resumed);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
