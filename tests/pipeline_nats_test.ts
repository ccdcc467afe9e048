/**
 * Pipelines on NATS: a pool node backed by a `NatsPool` (remote worker processes, a real
 * nats-server) gives the outputs a thread pool node gives; a remote worker SIGKILLed mid-run
 * loses nothing; a description's `kind: "nats"` pool is checked before anything connects; and a
 * pipeline checkpointing into a NATS `StateStore`, SIGKILLed mid-run (a real child process),
 * resumes from the NATS checkpoint to outputs byte-identical to an uninterrupted run's.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../src/errors.ts";
import {
  loadPipeline,
  parseDescription,
  PipelineBuildError,
  type PipelineDescription,
  type RunResult,
} from "../src/pipeline/mod.ts";
import { startNatsServer } from "./nats/server.ts";
import { startWorker, type TestWorker } from "./nats_pool_helpers.ts";

const WORKER = new URL("./fixtures/nats_pool_worker.ts", import.meta.url).href;
const FNS = new URL("./fixtures/pipeline_fns.ts", import.meta.url).href;
const CHILD = fileURLToPath(new URL("./fixtures/pipeline_nats_child.ts", import.meta.url));
const ITEMS = 60;

/** The description under test: range → pool node (dead letters) → a stateful count. */
function description(pool: PipelineDescription["pools"]): PipelineDescription {
  return {
    nodes: [
      { name: "n", source: true },
      { name: "w", inputs: ["n"], pool: "w", errors: "dead-letter", chunkSize: 3 },
      { name: "c", inputs: ["w"], fn: { module: FNS, export: "count" }, state: { n: 0 } },
      { name: "out", inputs: ["w", "c"], fn: { module: FNS, export: "pair" } },
    ],
    pools: pool,
    sources: { n: { range: ITEMS } },
  };
}

const THREADS = description({ w: { module: WORKER, size: 2, init: { factor: 3 } } });

function natsDescription(url: string, pool: string, size = 4): PipelineDescription {
  return description({
    w: { module: WORKER, kind: "nats", size, nats: { servers: url, pool, ackWaitMs: 1000 } },
  });
}

/** What a run gives, in a comparable form (dead letters: position, input and error message). */
function observed(r: RunResult): unknown {
  return {
    outputs: r.outputs,
    states: r.states,
    dead: r.deadLetters.map((d) => [d.node, d.position, d.item, String(d.error)]),
  };
}

async function runDescription(d: PipelineDescription): Promise<unknown> {
  await using loaded = await loadPipeline(d);
  return observed(await loaded.pipeline.runToCompletion(loaded.sources));
}

/** Wait until `path` exists (or `running` settles first: then its failure is the test's). */
async function waitForFile(path: string, running: Promise<unknown>): Promise<string> {
  let settled = false;
  running.then(() => (settled = true), () => (settled = true));
  for (;;) {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (settled) {
      await running;
      throw new Error(`the run ended before ${path} appeared`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("a pipeline with a NATS pool node gives the outputs, states and dead letters of a thread pool node", async () => {
  const expected = await runDescription(THREADS);
  assert.equal(
    (expected as { dead: unknown[] }).dead.length,
    9,
    "x % 7 === 3 fails (3, 10, ..., 59)",
  );
  await using server = await startNatsServer();
  await using _w0 = await startWorker(server.url, "same", { index: 0, args: { factor: 3 } });
  await using _w1 = await startWorker(server.url, "same", { index: 1, args: { factor: 3 } });
  assert.deepEqual(await runDescription(natsDescription(server.url, "same")), expected);
});

Deno.test("a remote worker SIGKILLed mid-run: its task is redelivered and the pipeline loses nothing", async () => {
  const expected = await runDescription(THREADS);
  const dir = await Deno.makeTempDir({ prefix: "spool-pipeline-nats-" });
  try {
    await using server = await startNatsServer();
    const args = { factor: 3, dir, hangOn: 30 };
    const workers: TestWorker[] = [
      await startWorker(server.url, "kill", { index: 0, args, ackWaitMs: 1000 }),
      await startWorker(server.url, "kill", { index: 1, args, ackWaitMs: 1000 }),
    ];
    await using _w0 = workers[0]!;
    await using _w1 = workers[1]!;
    const running = runDescription(natsDescription(server.url, "kill"));
    const pid = Number(await waitForFile(`${dir}/hang`, running));
    const victim = workers.findIndex((w) => w.pid === pid);
    assert.ok(victim >= 0, `the hang file names pid ${pid}, not a worker`);
    assert.equal((await workers[victim]!.kill()).signal, "SIGKILL");
    assert.deepEqual(await running, expected);
    assert.equal((await workers[1 - victim]!.stop()).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The message of `parseDescription`'s error for `pools`, or a failure if it accepts them. */
function poolProblems(pools: unknown): string {
  try {
    parseDescription({ nodes: [{ name: "n", source: true }], pools });
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError);
    return error.message;
  }
  throw new assert.AssertionError({ message: `accepted ${JSON.stringify(pools)}` });
}

Deno.test('a description\'s kind "nats" pool is checked: nats object, servers, pool name, keys, no init', () => {
  const nats = { servers: "nats://127.0.0.1:4222", pool: "p" };
  parseDescription({
    nodes: [{ name: "n", source: true }],
    pools: {
      a: { module: "./w.ts", kind: "nats", nats },
      b: { module: "./w.ts", kind: "nats", size: 8, nats: { ...nats, depth: 2, ackWaitMs: 500 } },
      c: {
        module: "./w.ts",
        kind: "nats",
        nats: { servers: ["nats://a:1", "nats://b:2"], pool: "p" },
      },
    },
  });
  assert.match(
    poolProblems({ w: { module: "w", kind: "nats" } }),
    /pools\.w\.nats: is required with kind "nats"/,
  );
  assert.match(
    poolProblems({ w: { module: "w", nats } }),
    /pools\.w\.nats: is only for kind "nats"/,
  );
  assert.match(
    poolProblems({ w: { module: "w", kind: "nats", init: { k: 1 }, nats } }),
    /pools\.w\.init: is not for a NATS pool: the remote workers take their init arguments when they start \(remote worker --args\)/,
  );
  assert.match(
    poolProblems({ w: { module: "w", kind: "nats", nats: { pool: "p" } } }),
    /pools\.w\.nats\.servers: is required/,
  );
  assert.match(
    poolProblems({ w: { module: "w", kind: "nats", nats: { servers: [], pool: "p" } } }),
    /pools\.w\.nats\.servers: must be a URL or a non-empty list of URLs/,
  );
  assert.match(
    poolProblems({ w: { module: "w", kind: "nats", nats: { ...nats, pool: "a.b" } } }),
    /pools\.w\.nats\.pool: the pool name must be 1 to 64 letters, digits, '_' or '-', received "a\.b"/,
  );
  assert.match(
    poolProblems({ w: { module: "w", kind: "nats", nats: { servers: "x" } } }),
    /pools\.w\.nats\.pool: is required/,
  );
  assert.match(
    poolProblems({ w: { module: "w", kind: "nats", nats: { ...nats, server: "x" } } }),
    /pools\.w\.nats: unknown key "server" \(known: servers, pool, depth, ackWaitMs, tokenEnv, user, passEnv, credsFile, tls\)/,
  );
  assert.match(
    poolProblems({ w: { module: "w", kind: "nats", nats: { ...nats, depth: 0 } } }),
    /pools\.w\.nats\.depth: must be an integer >= 1/,
  );
  assert.match(
    poolProblems({ w: { module: "w", kind: "remote" } }),
    /pools\.w\.kind: must be one of "worker", "process", "nats"/,
  );
});

Deno.test('a kind "nats" pool whose module exports no worker definition fails the load before any connect', async () => {
  const fns = "data:text/javascript," + encodeURIComponent("export const x = 1;");
  const d = description({
    // Nothing listens on port 9: a connect attempt would fail with another error.
    w: { module: fns, kind: "nats", nats: { servers: "nats://127.0.0.1:9", pool: "p" } },
  });
  await assert.rejects(
    () => loadPipeline(d),
    (e: Error) =>
      e instanceof PipelineBuildError &&
      /pool "w": bad export of module .*: Cannot use the export "default": the definition needs a process\(state, input\) function/
        .test(e.message),
  );
});

/** Run the checkpointing child to its end (or until `kill` says so); its stdout lines. */
async function child(
  url: string,
  out: string,
  natsPool: string[],
  kill?: (line: string) => boolean,
): Promise<{ lines: string[]; status: Deno.CommandStatus }> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, url, "ckpt", out, "400", ...natsPool],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  let text = "";
  for await (const chunk of proc.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    let nl;
    while ((nl = text.indexOf("\n")) >= 0) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      lines.push(line);
      if (kill?.(line)) {
        proc.kill("SIGKILL");
        kill = undefined;
      }
    }
  }
  return { lines, status: await proc.status };
}

/**
 * Every output file of `dir` (name → bytes): `<seq>.json` and `final.json` (a temporary file
 * of fileSink's cut by the kill, `<seq>.json.tmp-*`, is not an output).
 */
async function files(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    if (/^(\d{12}|final)\.json$/.test(e.name)) {
      out.set(e.name, await Deno.readFile(`${dir}/${e.name}`));
    }
  }
  return out;
}

/**
 * The coordinator-kill fault: the child runs to its end on one server (the reference), then on
 * another it is SIGKILLed once its second checkpoint is committed to NATS and run again: it
 * resumes from that checkpoint, and its output files equal the reference's byte for byte.
 * With `remote`, the pool node runs on two remote workers of each server (they outlive the kill).
 */
async function coordinatorKill(remote: boolean): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "spool-pipeline-nats-ckpt-" });
  const pool = remote ? ["ckpt"] : [];
  const workersOf = async (url: string) =>
    remote
      ? [
        await startWorker(url, "ckpt", { index: 0, args: { factor: 3 }, ackWaitMs: 1000 }),
        await startWorker(url, "ckpt", { index: 1, args: { factor: 3 }, ackWaitMs: 1000 }),
      ]
      : [];
  try {
    await using ref = await startNatsServer();
    const refWorkers = await workersOf(ref.url);
    const clean = await child(ref.url, `${root}/ref`, pool);
    for (const w of refWorkers) await w.stop();
    assert.equal(clean.status.code, 0);
    const expected = await files(`${root}/ref`);
    assert.equal(expected.size, remote ? 401 - 57 : 401, "outputs (not the dead letters), final");

    await using server = await startNatsServer();
    const workers = await workersOf(server.url);
    try {
      const killed = await child(
        server.url,
        `${root}/out`,
        pool,
        (l) => l.startsWith("checkpoint 2 "),
      );
      assert.equal(killed.status.signal, "SIGKILL");
      const resumed = await child(server.url, `${root}/out`, pool);
      assert.equal(resumed.status.code, 0);
      const start = JSON.parse(resumed.lines[0]!);
      assert.ok(start.resumed?.checkpoint >= 2, `resumed from ${resumed.lines[0]}`);
      assert.ok(start.resumed.positions.s > 0 && start.resumed.positions.s < 400);
    } finally {
      for (const w of workers) await w.stop();
    }
    const got = await files(`${root}/out`);
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
    for (const [name, bytes] of expected) assert.deepEqual(got.get(name), bytes, name);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("a pipeline SIGKILLed mid-run resumes from its NATS checkpoint to the outputs of an uninterrupted run, byte for byte", async () => {
  await coordinatorKill(false);
});

Deno.test("the same with its pool node on remote workers: the coordinator's SIGKILL loses nothing and doubles nothing", async () => {
  await coordinatorKill(true);
});
