/**
 * A job killed on one machine resumes on another: a StatefulLoop whose checkpoints live in a
 * NatsStorage store (tests/fixtures/nats_loop_crash_job.ts) is SIGKILLed at random moments, and
 * each rerun starts in a NEW empty working and temporary directory (a "new machine": nothing of
 * the killed run's disk is there), until it finishes. Its final state, read back by one more run
 * on yet another machine, and the outputs of its idempotent sink equal an uninterrupted run's.
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { connectNats } from "../src/nats/connect.ts";
import { startNatsServer } from "./nats/server.ts";

const JOB = fileURLToPath(new URL("./fixtures/nats_loop_crash_job.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const N = 6000;
const MIN_KILLS = 5;
const MAX_KILLS = 9;
/** The lock lifetime of the job's store: a killed run blocks the next one at most this long. */
const LOCK_TTL_MS = 1500;

/** One run of the job on a fresh "machine"; with `killAfterMs`, SIGKILLed that long after open. */
export interface JobRun {
  /** The position the run opened at (what the store held). */
  openedAt?: number;
  /** How long the run waited for the killed run's lock, in ms. */
  lockWaitMs?: number;
  /** The `DONE` state, when the run finished. */
  done?: unknown;
  /** Whether this run was SIGKILLed. */
  killed: boolean;
  /** Files the run left in its working/temporary directory (none when it finished). */
  leftovers: string[];
  stderr: string;
}

async function runJob(url: string, bucket: string, killAfterMs?: number): Promise<JobRun> {
  const machine = await Deno.makeTempDir({ prefix: "spool-machine-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, JOB, url, bucket, String(N), String(LOCK_TTL_MS)],
    cwd: machine,
    env: { TMPDIR: machine },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const run: JobRun = { killed: false, leftovers: [], stderr: "" };
  let timer: ReturnType<typeof setTimeout> | undefined;
  let text = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n")) {
      const line = text.slice(0, end);
      text = text.slice(end + 1);
      const [word, rest] = [line.slice(0, line.indexOf(" ")), line.slice(line.indexOf(" ") + 1)];
      if (word === "lock-wait") run.lockWaitMs = Number(rest);
      if (word === "DONE") run.done = JSON.parse(rest);
      if (word === "open") {
        run.openedAt = Number(rest);
        if (killAfterMs !== undefined) {
          timer = setTimeout(() => {
            try {
              child.kill("SIGKILL");
              run.killed = true;
            } catch { /* exited meanwhile */ }
          }, killAfterMs);
        }
      }
    }
  }
  const status = await child.status;
  clearTimeout(timer);
  run.stderr = await stderr;
  if (!run.killed) assert.equal(status.code, 0, run.stderr);
  for await (const e of Deno.readDir(machine)) run.leftovers.push(e.name);
  await Deno.remove(machine, { recursive: true });
  return run;
}

/** The sink's records (one key per flush sequence number) of `bucket`. */
async function sinkRecords(url: string, bucket: string): Promise<Map<string, string>> {
  await using nats = await connectNats({ servers: url });
  const kv = await nats.kv(`${bucket}-out`);
  const out = new Map<string, string>();
  for await (const key of await kv.keys()) out.set(key, (await kv.get(key))!.string());
  return out;
}

Deno.test("nats loop crash: SIGKILLed at random moments, each rerun on a new machine, the final state and outputs equal an uninterrupted run's", async () => {
  await using server = await startNatsServer();
  const reference = await runJob(server.url, "ref");
  assert.ok(reference.done !== undefined, reference.stderr);
  assert.equal((reference.done as { position: number }).position, N);

  const runs: JobRun[] = [];
  let kills = 0;
  for (let attempt = 0; attempt < 40; attempt++) {
    const killAfter = kills < MAX_KILLS ? 80 + Math.floor(Math.random() * 900) : undefined;
    const run = await runJob(server.url, "job", killAfter);
    runs.push(run);
    // A killed run may leave a staging directory on its machine: the next machine has none.
    if (!run.killed) assert.deepEqual(run.leftovers, [], "a finished run left files behind");
    if (run.killed) kills++;
    if (run.done !== undefined) break;
  }
  const last = runs.at(-1)!;
  assert.ok(last.done !== undefined, `not finished after ${runs.length} runs`);
  assert.ok(kills >= MIN_KILLS, `only ${kills} kills landed before the job finished`);
  // Progress was kept across machines: every run opened at or after the previous one's position.
  const opened = runs.map((r) => r.openedAt ?? -1);
  assert.ok(opened.every((p, i) => i === 0 || p >= opened[i - 1]!), opened.join(","));
  assert.ok(opened.some((p) => p > 0 && p < N), opened.join(","));

  // One more machine: the store alone gives the final state (no item is redone).
  const verify = await runJob(server.url, "job");
  assert.equal(verify.openedAt, N);
  assert.deepEqual(verify.done, reference.done);
  assert.deepEqual(last.done, reference.done);
  const [got, expected] = [
    await sinkRecords(server.url, "job"),
    await sinkRecords(server.url, "ref"),
  ];
  assert.ok(expected.size > 50, `only ${expected.size} flushes`);
  assert.deepEqual(got, expected);
  const waits = runs.slice(1).map((r) => r.lockWaitMs ?? -1);
  console.log(
    `nats loop crash: ${kills} kills in ${runs.length} runs; opened at ${opened.join(",")}; ` +
      `lock waits after a kill (ms): ${waits.join(",")} (lockTtlMs ${LOCK_TTL_MS})`,
  );
});
