/**
 * The coordinator of a distributed job SIGKILLed and restarted: a StatefulLoop whose body maps
 * each batch over a NatsPool (tests/fixtures/nats_loop_coord_job.ts), checkpointed to
 * NatsStorage after every batch, served by 2 remote worker processes that keep running across
 * the coordinator's deaths. The coordinator is killed mid-map several times and restarted (each
 * time in a new empty working directory) until it finishes. Checked:
 *
 * - state exactly-once: the final state equals an uninterrupted run's (every batch folded once);
 * - results of a dead coordinator's maps never reach the new one: every result the new run
 *   folds is the one of its own input (`wrong` counts mismatches and missing results: 0), and
 *   its pool dropped no stray or duplicate result (`duplicates`: 0);
 * - done work is not run again: each map is keyed by its batch (`batch-<b>`), so the restarted
 *   coordinator republishes the dead one's chunks under the same dedup ids (not stored again)
 *   and reads the results it left, also when the kill fell after the map ended and before the
 *   batch's checkpoint was saved (an ended keyed map's results are kept until the pool starts
 *   its next keyed map). The executions recorded by the workers show it: no input runs twice.
 *   Before keyed maps, every kill ran part or all of its batch again (150 extra executions over
 *   7 kills, 66 over 4).
 *
 * The batch a kill fell in is read from the child's stdout (`map <b>` / `mapped <b>` lines), so
 * under load it may lag the child by a batch: the checks accept the batch read or the next one.
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { connectNats, type NatsHandle } from "../src/nats/connect.ts";
import { poolNames } from "../src/pool/nats/protocol.ts";
import { startNatsServer } from "./nats/server.ts";

const JOB = fileURLToPath(new URL("./fixtures/nats_loop_coord_job.ts", import.meta.url));
const WORKER_MODULE = new URL("./fixtures/nats_loop_worker.ts", import.meta.url).href;
const WORKER_MAIN = fileURLToPath(
  new URL("../src/pool/nats/remote_worker_main.ts", import.meta.url),
);
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const POOL = "coord";
const BATCHES = 100;
const SIZE = 25;
const N = BATCHES * SIZE;
const MIN_KILLS = 4;
const MAX_KILLS = 7;
const LOCK_TTL_MS = 1500;

/** Read `stream` line by line, calling `onLine` for each; resolves at its end. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n")) {
      onLine(text.slice(0, end));
      text = text.slice(end + 1);
    }
  }
}

/** A remote worker process serving the pool with the recording worker module. */
async function startLoopWorker(url: string, index: number, dir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      WORKER_MAIN,
      ...["--servers", url, "--pool", POOL, "--module", WORKER_MODULE],
      ...["--index", String(index), "--size", "2", "--concurrency", "2"],
      ...["--args", JSON.stringify({ dir, delayMs: 4 })],
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const lines = readLines(child.stdout, (line) => line === "ready" && ready());
  await Promise.race([isReady, child.status]);
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    const status = await child.status;
    await lines;
    return status;
  };
  return { pid: child.pid, stop, [Symbol.asyncDispose]: async () => void await stop() };
}

interface CoordinatorRun {
  openedAt?: number;
  /** From the loop's open to the end of the run, in ms. */
  workMs: number;
  /** The batch of the last `map` line read when the run was killed (the child may be one on). */
  killedInMap?: number;
  /** The last line read at the kill was `mapped <b>`: the kill fell after that map ended. */
  killedAfterMap?: boolean;
  done?: Record<string, number>;
  killed: boolean;
  stderr: string;
}

/** Run the coordinator in a new empty directory; with `killAfterMs`, SIGKILL it after open. */
async function runCoordinator(
  url: string,
  bucket: string,
  killAfterMs?: number,
): Promise<CoordinatorRun> {
  const machine = await Deno.makeTempDir({ prefix: "spool-coordinator-" });
  const args = [url, bucket, POOL, String(BATCHES), String(SIZE), String(LOCK_TTL_MS)];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, JOB, ...args],
    cwd: machine,
    env: { TMPDIR: machine },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const run: CoordinatorRun = { killed: false, stderr: "", workMs: 0 };
  let openAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let mapping: number | undefined;
  let mapped = false;
  await readLines(child.stdout, (line) => {
    const [word, rest] = [line.slice(0, line.indexOf(" ")), line.slice(line.indexOf(" ") + 1)];
    if (word === "map") [mapping, mapped] = [Number(rest), false];
    if (word === "mapped") mapped = true;
    if (word === "DONE") run.done = JSON.parse(rest);
    if (word === "open") {
      run.openedAt = Number(rest);
      openAt = performance.now();
      if (killAfterMs === undefined) return;
      timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
          run.killed = true;
          run.killedInMap = mapping;
          run.killedAfterMap = mapped;
        } catch { /* exited meanwhile */ }
      }, killAfterMs);
    }
  });
  const status = await child.status;
  run.workMs = performance.now() - openAt;
  clearTimeout(timer);
  run.stderr = await stderr;
  if (!run.killed) assert.equal(status.code, 0, run.stderr);
  await Deno.remove(machine, { recursive: true });
  return run;
}

/** Tasks waiting in the pool's work queue and tasks delivered but not acknowledged. */
async function queueDepth(nats: NatsHandle): Promise<{ stored: number; unacked: number }> {
  const names = poolNames(POOL);
  const stream = await nats.jsm.streams.info(names.stream);
  const consumer = await nats.jsm.consumers.info(names.stream, names.consumer);
  return { stored: stream.state.messages, unacked: consumer.num_ack_pending };
}

/** How many times each input ran, from the workers' execution logs. */
async function executions(dir: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".log")) continue;
    for (const line of (await Deno.readTextFile(`${dir}/${e.name}`)).split("\n")) {
      if (line !== "") out.set(Number(line), (out.get(Number(line)) ?? 0) + 1);
    }
  }
  return out;
}

Deno.test("nats loop coordinator: SIGKILLed mid-map and restarted, workers running on: state exactly-once, no stray result, done work not run again (keyed maps)", async () => {
  await using server = await startNatsServer();
  const logs = await Deno.makeTempDir({ prefix: "spool-coord-logs-" });
  try {
    await using nats = await connectNats({ servers: server.url });
    await using _w0 = await startLoopWorker(server.url, 0, logs);
    await using _w1 = await startLoopWorker(server.url, 1, logs);

    const reference = await runCoordinator(server.url, "ref");
    const refMs = reference.workMs;
    assert.ok(reference.done, reference.stderr);
    assert.deepEqual(reference.done, {
      batches: BATCHES,
      count: N,
      sum: 3 * (N * (N - 1)) / 2,
      wrong: 0,
      position: BATCHES,
      duplicates: 0,
      stale: 0,
    });
    const baseline = await executions(logs);
    assert.equal(baseline.size, N);
    assert.ok([...baseline.values()].every((n) => n === 1), "the reference ran an input twice");

    const runs: CoordinatorRun[] = [];
    const leftAfterKill: { stored: number; unacked: number }[] = [];
    let kills = 0;
    for (let attempt = 0; attempt < 30; attempt++) {
      // Kill somewhere in the first 30% of an uninterrupted run's work (mostly mid-map).
      const killAfter = kills < MAX_KILLS ? 50 + Math.random() * 0.3 * refMs : undefined;
      const run = await runCoordinator(server.url, "job", killAfter);
      runs.push(run);
      if (run.killed) {
        kills++;
        leftAfterKill.push(await queueDepth(nats));
      }
      if (run.done !== undefined) break;
    }
    const last = runs.at(-1)!;
    assert.ok(last.done, `not finished after ${runs.length} runs: ${last.stderr}`);
    assert.ok(kills >= MIN_KILLS, `only ${kills} kills landed`);
    const midMap = runs.filter((r) => r.killed && r.killedInMap !== undefined).length;
    assert.ok(midMap >= MIN_KILLS, `only ${midMap} kills landed during a map`);
    // State exactly-once, and no stray result: the new runs folded exactly their own results.
    assert.deepEqual(last.done, reference.done);

    // The leftover tasks run for nothing: wait until the queue is empty, then count executions.
    for (let i = 0; i < 300; i++) {
      const depth = await queueDepth(nats);
      if (depth.stored === 0 && depth.unacked === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await queueDepth(nats), { stored: 0, unacked: 0 });
    const all = await executions(logs);
    const ran = new Map([...all].map(([x, n]) => [x, n - (baseline.get(x) ?? 0)]));
    assert.ok(range(N).every((x) => (ran.get(x) ?? 0) >= 1), "an input never ran");
    const twice = [...ran.values()].filter((n) => n >= 2).length;
    // Work of a completed batch (checkpointed) never runs again: only the batches a coordinator
    // died in (the one read, or the next under a lagging read) may have run more than once.
    const killed = runs.filter((r) => r.killed && r.killedInMap !== undefined);
    const suspects = new Set(killed.flatMap((r) => [r.killedInMap!, r.killedInMap! + 1]));
    const elsewhere = [...ran].filter(([x, n]) => n >= 2 && !suspects.has(Math.floor(x / SIZE)));
    // Keyed maps: a batch never runs again in part (the dead run's chunks are not run again),
    // nor as a whole (its results outlive the map's end until the next batch's map starts).
    let reruns = 0;
    const partial: string[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const counts = range(SIZE).map((i) => ran.get(b * SIZE + i) ?? 0);
      if (!counts.every((n) => n === counts[0])) partial.push(`batch ${b}: ${counts}`);
      reruns += Math.min(...counts) - 1;
    }
    const extra = [...ran.values()].reduce((a, n) => a + n, 0) - N;
    const afterMap = killed.filter((r) => r.killedAfterMap).length;
    console.log(
      `nats loop coordinator: ${kills} kills (${midMap} mid-map) in ${runs.length} runs, ` +
        `uninterrupted run ${Math.round(refMs)} ms of work; opened at ` +
        `${runs.map((r) => r.openedAt).join(",")}; killed in map ` +
        `${runs.filter((r) => r.killed).map((r) => r.killedInMap).join(",")}; tasks left in ` +
        `the queue right after each kill (stored+unacked): ` +
        `${leftAfterKill.map((d) => `${d.stored}+${d.unacked}`).join(",")}; ${twice} of ${N} ` +
        `inputs ran more than once, ${extra} extra executions (${reruns} whole-batch re-runs; ` +
        `${afterMap} kills read as after a map's end)`,
    );
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(partial, [], "a batch ran in part twice");
    assert.equal(reruns, 0, `${reruns} whole-batch re-runs for ${kills} kills`);
    assert.equal(extra, 0);
  } finally {
    await Deno.remove(logs, { recursive: true });
  }
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
