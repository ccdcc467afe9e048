// Pool tests that cross areas or kill processes (the unit tests live beside the code, in
// src/pool/*_test.ts): a thread that cannot be stopped (its child process is killed), and a
// module path resolved against the working directory.
import assert from "node:assert/strict";
import type { PoolWarning, WorkerInsights } from "../src/pool/mod.ts";
import { WorkerPool } from "../src/pool/mod.ts";

/**
 * Run tests/fixtures/pool_stuck_child.ts with `args`, read its one-line JSON report, then kill it
 * if it is still there (a spinning thread never lets it exit).
 */
async function runStuckChild(
  args: string[],
): Promise<{ report: Record<string, unknown>; stderr: string; status: Deno.CommandStatus }> {
  const child = new URL("./fixtures/pool_stuck_child.ts", import.meta.url);
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child.pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<void>((r) => (timer = setTimeout(r, 60_000)));
  while (!out.includes("\n")) {
    const r = await Promise.race([reader.read(), limit.then(() => undefined)]);
    if (r === undefined || r.done) break;
    out += r.value;
  }
  clearTimeout(timer);
  try {
    proc.kill("SIGKILL");
  } catch { /* it exited by itself */ }
  await reader.cancel();
  const status = await proc.status;
  const stderr = new TextDecoder().decode(
    (await new Response(proc.stderr).arrayBuffer()) as ArrayBuffer,
  );
  assert.ok(out.includes("\n"), `no report from the child: ${stderr}`);
  return { report: JSON.parse(out), stderr, status };
}

Deno.test("a busy task past timeoutMs in a thread: the pool reports the thread it cannot stop", async () => {
  for (const mode of ["console", "events"]) {
    const { report, stderr, status } = await runStuckChild(["worker", mode]);
    assert.equal(status.signal, "SIGKILL", "the child does not exit by itself (the thread spins)");
    const insights = report.insights as WorkerInsights[];
    assert.deepEqual(report.results, ["ok", "TimeoutError", "ok"]);
    assert.equal(insights[0]!.stuckThreads, 1);
    if (mode === "console") {
      assert.match(stderr, /still running.*kind: "process"/s);
    } else {
      const warnings = report.warnings as PoolWarning[];
      assert.equal(warnings.length, 2, JSON.stringify(warnings));
      assert.ok(warnings.every((w) => w.code === "thread-still-running"));
      assert.match(warnings[1]!.message, /close.*kind: "process"/s);
    }
  }
});

Deno.test("start fails fast with a thread busy in init: the thread that cannot be stopped is reported", async () => {
  const { report, stderr } = await runStuckChild(["init"]);
  assert.equal(report.error, "WorkerInitError");
  const insights = report.insights as WorkerInsights[];
  assert.deepEqual(insights.map((w) => w.stuckThreads), [0, 1]);
  assert.match(stderr, /worker 1's thread was still in init at close\(\).*kind: "process"/s);
});

Deno.test("a module given as a relative path under a directory named with # and % loads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool pool #1 %20 " });
  const spool = new URL("../src/pool/mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    `${dir}/w.ts`,
    `import { defineWorker } from ${JSON.stringify(spool)};\n` +
      `export default defineWorker({ process: (_s: unknown, x: number) => x + 1 });\n`,
  );
  const cwd = Deno.cwd();
  Deno.chdir(dir);
  try {
    await using p = await WorkerPool.start({ module: "./w.ts", size: 1 });
    const out: number[] = [];
    for await (const r of p.map([1, 2, 3])) out.push(r as number);
    assert.deepEqual(out, [2, 3, 4]);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});
