/**
 * The demo distributed: `--nats URL` runs its `enrich` stage on remote worker processes (two,
 * serving examples/demo_worker.ts) and its pipeline's and loop's checkpoints in NATS, against a
 * server that wants a token (`SPOOL_NATS_TOKEN` in the demo's and the workers' environment; a
 * run without it is refused); its output files are byte-identical to the single-machine run's,
 * also after a SIGKILL and a resume in another working directory from the NATS checkpoints (with
 * the shared pieces copied: inputs, spool, outputs, dead-letter log). Its NATS flags and
 * credentials are checked, and a directory's checkpoints keep their kind.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { parseDemoArgs } from "../examples/demo.ts";
import { demoNatsOf, workerCommand } from "../examples/demo_nats.ts";
import { InvalidArgumentError } from "../src/errors.ts";
import { NatsStorage } from "../src/state/nats_storage.ts";
import { StateStore } from "../src/state/store.ts";
import { startNatsServer } from "./nats/server.ts";

const DEMO = fileURLToPath(new URL("../examples/demo.ts", import.meta.url));
const ENTRY = fileURLToPath(new URL("../src/pool/nats/remote_worker_main.ts", import.meta.url));
const MODULE = fileURLToPath(new URL("../examples/demo_worker.ts", import.meta.url));
const decoder = new TextDecoder();
const TOKEN = "demo-t0ken";
/** The environment of the demo and its workers on the token server. */
const WITH_TOKEN = { SPOOL_NATS_TOKEN: TOKEN };

function demo(dir: string, extra: string[] = [], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DEMO, `--dir=${dir}`, "--readings=250000", "--files=5", "--part-mb=0.2"]
      .concat(extra),
    env,
    stdout: "piped",
    stderr: "piped",
  });
}

async function finish(
  dir: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<string> {
  const out = await demo(dir, extra, env).output();
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  return decoder.decode(out.stdout);
}

/** Every output file (relative name → sha256): out/ and the spool's leftovers. */
async function outputs(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(`${dir}/${rel}`)) {
      const path = `${rel}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else {
        const bytes = await Deno.readFile(`${dir}/${path}`);
        files[path] = createHash("sha256").update(bytes).digest("hex");
      }
    }
  };
  await walk("out");
  await walk("spool");
  return files;
}

/** A remote worker of the demo's pool (the README's command), ready once it printed "ready". */
async function startDemoWorker(
  url: string,
  index: number,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<AsyncDisposable> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ENTRY, "--servers", url, "--pool", "spool-demo", "--module", MODULE]
      .concat(["--concurrency", "2", "--index", String(index)], extra),
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("ready")) {
    const r = await lines.read();
    if (r.done) break;
    seen += r.value;
  }
  const rest = (async () => {
    while (!(await lines.read()).done) { /* drain */ }
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    await rest;
  };
  if (!seen.includes("ready")) {
    await stop();
    throw new Error(`the demo worker did not start: ${seen}`);
  }
  return { [Symbol.asyncDispose]: stop };
}

/** Copy the dataset of `from` into `to` (both runs read identical files). */
async function copyData(from: string, to: string): Promise<void> {
  await Deno.mkdir(`${to}/data`, { recursive: true });
  for await (const e of Deno.readDir(`${from}/data`)) {
    await Deno.copyFile(`${from}/data/${e.name}`, `${to}/data/${e.name}`);
  }
}

/** Whether NATS bucket `bucket` holds a complete checkpoint (read-only: takes no lock). */
async function hasCheckpoint(url: string, bucket: string): Promise<boolean> {
  try {
    await using store = await StateStore.withStorage(
      await NatsStorage.connect({ servers: url, token: TOKEN, bucket }),
      { readOnly: true },
    );
    return (await store.list()).length > 0;
  } catch {
    return false; // not created yet
  }
}

/**
 * What a resume on another host needs besides the NATS checkpoints: the inputs, the chunk spool,
 * the outputs and the dead-letter log (docs/demo.md). Copied from `from` to `to`.
 */
async function copyShared(from: string, to: string): Promise<void> {
  for (const dir of ["data", "spool", "out"]) await copyTree(`${from}/${dir}`, `${to}/${dir}`);
  await Deno.mkdir(`${to}/state`, { recursive: true });
  await Deno.copyFile(`${from}/state/dead-letters.log`, `${to}/state/dead-letters.log`);
}

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/**
 * Run the demo and SIGKILL it once its progress (stderr) shows `fraction` of the lines read and
 * `ready()` (when given) holds.
 */
async function killMidway(
  dir: string,
  extra: string[],
  fraction: number,
  env: Record<string, string> = {},
  ready: () => Promise<boolean> = () => Promise.resolve(true),
): Promise<void> {
  const child = demo(dir, extra, env).spawn();
  const stdout = new Response(child.stdout).text();
  let text = "";
  let killed = false;
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    const counts = [...text.matchAll(/readings: (\d+)\/(\d+)/g)];
    const last = counts.at(-1);
    if (!killed && last && Number(last[1]) >= fraction * Number(last[2]) && await ready()) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  const status = await child.status;
  await stdout;
  assert.equal(status.signal, "SIGKILL", `the run ended before its kill: ${text.slice(-500)}`);
}

Deno.test("demo --nats on a token server: remote workers and NATS checkpoints give the single-machine run's output bytes, also after a SIGKILL and a resume in another directory", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-demo-nats-" });
  try {
    const local = `${root}/local`;
    assert.match(await finish(local), /done in/);
    const expected = await outputs(local);
    assert.ok(Object.keys(expected).length > 10 && expected["out/summary.json"]);

    await using server = await startNatsServer({ token: TOKEN });
    await using _w0 = await startDemoWorker(server.url, 0, [], WITH_TOKEN);
    await using _w1 = await startDemoWorker(server.url, 1, [], WITH_TOKEN);
    const nats = ["--nats", server.url];

    // Without the token the run is refused before it starts.
    const refused = await demo(`${root}/refused`, [...nats, "--readings=2000", "--files=1"])
      .output();
    assert.notEqual(refused.code, 0);
    assert.match(
      decoder.decode(refused.stderr),
      /Cannot connect to NATS: the server refused the credentials/,
    );
    await assert.rejects(() => Deno.stat(`${root}/refused/out/summary.json`), Deno.errors.NotFound);

    const whole = `${root}/nats`;
    await copyData(local, whole);
    const first = await finish(whole, nats, WITH_TOKEN);
    assert.match(first, /pool: remote workers of NATS pool "spool-demo"/);
    assert.match(first, /pipeline: starting/);
    assert.match(first, /checkpoints +NATS buckets spool-demo and spool-demo-loop/);
    assert.deepEqual(await outputs(whole), expected);

    // A run SIGKILLed mid-way resumes in another directory (another host: only the shared pieces
    // copied, no checkpoint on disk) from its pipeline's and loop's checkpoints in NATS.
    const killed = `${root}/killed`;
    await copyData(local, killed);
    const bucket = [...nats, "--nats-bucket", "killed", "--save-every-ms=100"];
    // Killed once the loop too has a checkpoint (so its resume from NATS is what is tested).
    await killMidway(
      killed,
      bucket,
      0.4,
      WITH_TOKEN,
      () => hasCheckpoint(server.url, "killed-loop"),
    );
    // Resumed where the shared pieces are missing (only the inputs here), the run is refused at
    // its start, without a checkpoint (it would otherwise wait for chunks forever).
    const bare = `${root}/bare`;
    await copyData(local, bare);
    const refusedBare = await demo(bare, bucket, WITH_TOKEN).output();
    assert.notEqual(refusedBare.code, 0);
    assert.match(
      decoder.decode(refusedBare.stderr),
      /Cannot resume the demo: this directory lacks what its checkpoints need: .*dead letters logged in .*Copy spool\/, out\/ and state\/dead-letters\.log/,
    );
    await assert.rejects(() => Deno.stat(`${bare}/out/summary.json`), Deno.errors.NotFound);
    const moved = `${root}/moved`;
    await copyShared(killed, moved);
    await Deno.remove(killed, { recursive: true });
    const resumed = await finish(moved, bucket, WITH_TOKEN);
    assert.match(resumed, /pipeline: resumed from checkpoint #\d+ in NATS bucket killed/);
    assert.match(resumed, /loop: resumed from its checkpoint in NATS bucket killed-loop: [1-9]/);
    assert.deepEqual(await outputs(moved), expected);

    // --fresh forgets the NATS checkpoints too: the run starts over.
    const fresh = await finish(moved, [...bucket, "--fresh"], WITH_TOKEN);
    assert.match(fresh, /pipeline: starting/);
    assert.doesNotMatch(fresh, /loop: resumed/);
    assert.deepEqual(await outputs(moved), expected);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("demo --nats: a directory's checkpoints keep their kind (local or NATS) unless --fresh", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-demo-mode-" });
  try {
    const small = ["--readings=2000", "--files=1"];
    const dir = `${root}/d`;
    const first = await demo(dir, small).output();
    assert.equal(first.code, 0, decoder.decode(first.stderr));
    // Refused before anything connects (nothing listens on port 9).
    const other = await demo(dir, [...small, "--nats", "nats://127.0.0.1:9"]).output();
    assert.notEqual(other.code, 0);
    assert.match(
      decoder.decode(other.stderr),
      /Cannot resume the demo: the checkpoints in .* are of another kind of run \(\{"pipelineStore":"local"\}\): run with --fresh to start over/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("demo --nats: a remote worker computing otherwise (other --args) is refused before the run", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-demo-probe-" });
  try {
    await using server = await startNatsServer();
    await using _w = await startDemoWorker(server.url, 0, [
      "--args",
      JSON.stringify({ sensors: 64, seed: 8 }),
    ]);
    const out = await demo(`${root}/d`, ["--readings=2000", "--files=1", "--nats", server.url])
      .output();
    assert.notEqual(out.code, 0);
    assert.match(
      decoder.decode(out.stderr),
      /Cannot check the remote workers: they do not enrich readings as examples\/demo_worker\.ts does here/,
    );
    await assert.rejects(() => Deno.stat(`${root}/d/out/summary.json`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("demo arguments: --nats, --nats-pool and --nats-bucket", () => {
  assert.equal(parseDemoArgs([]).nats, undefined);
  assert.deepEqual(parseDemoArgs(["--nats", "nats://a:1,nats://b:2"]).nats, {
    servers: ["nats://a:1", "nats://b:2"],
    pool: "spool-demo",
    bucket: "spool-demo",
  });
  assert.deepEqual(
    parseDemoArgs(["--nats=nats://a:1", "--nats-pool=p1", "--nats-bucket", "b_2"]).nats,
    { servers: ["nats://a:1"], pool: "p1", bucket: "b_2" },
  );
  const cases: [string[], RegExp][] = [
    [
      ["--nats-pool", "p"],
      /--nats-pool, --nats-bucket and --nats-creds need --nats URL, received "p"/,
    ],
    [["--nats-creds", "x.creds"], /--nats-creds need --nats URL, received "x\.creds"/],
    [["--nats", "x", "--nats-creds="], /--nats-creds must be a file path/],
    [["--nats", "x", "--nats-bucket", "b".repeat(60)], /--nats-bucket must be 1 to 59 letters/],
    [["--nats", ""], /--nats must be a URL or a comma-separated list, received ""/],
    [["--nats", "nats://a:1,"], /--nats must be a URL or a comma-separated list/],
    [
      ["--nats", "x", "--nats-pool", "a.b"],
      /--nats-pool must be 1 to 59 letters, digits, '_' or '-', received "a\.b"/,
    ],
    [["--nats", "x", "--nats-bucket", ""], /--nats-bucket must be 1 to 59 letters/],
    [["--nats"], /Cannot parse the demo's arguments: .*--nats/],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseDemoArgs(args),
      (e: Error) => e instanceof InvalidArgumentError && message.test(e.message),
      args.join(" "),
    );
  }
});

Deno.test("demo NATS credentials: SPOOL_NATS_TOKEN, SPOOL_NATS_USER + SPOOL_NATS_PASS, --nats-creds; at most one", () => {
  const action = "parse the demo's arguments";
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const base = { servers: ["nats://a:1"], pool: "spool-demo", bucket: "spool-demo" };
  const of = (vars: Record<string, string>, values: Record<string, string> = {}) =>
    demoNatsOf(action, { nats: "nats://a:1", ...values }, env(vars));
  assert.deepEqual(of({}), base, "no credentials: no auth key");
  assert.deepEqual(of({ SPOOL_NATS_TOKEN: "t" }), { ...base, auth: { token: "t" } });
  assert.deepEqual(of({ SPOOL_NATS_USER: "u", SPOOL_NATS_PASS: "p" }), {
    ...base,
    auth: { user: "u", pass: "p" },
  });
  assert.deepEqual(of({}, { "nats-creds": "a.creds" }), {
    ...base,
    auth: { credsFile: "a.creds" },
  });
  assert.deepEqual(of({ SPOOL_NATS_TOKEN: "" }), base, "an empty variable is unset");
  const bad: [Record<string, string>, Record<string, string>, RegExp][] = [
    [{ SPOOL_NATS_USER: "u" }, {}, /SPOOL_NATS_USER and SPOOL_NATS_PASS go together/],
    [{ SPOOL_NATS_PASS: "p" }, {}, /go together .*received "SPOOL_NATS_PASS"/],
    [
      { SPOOL_NATS_TOKEN: "t" },
      { "nats-creds": "a.creds" },
      /at most one way to authenticate to NATS, received "SPOOL_NATS_TOKEN and --nats-creds"/,
    ],
  ];
  for (const [vars, values, message] of bad) {
    assert.throws(() => of(vars, values), (e: Error) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(e.message, message);
      assert.doesNotMatch(e.message, /"t"|"p"/, "no secret in the message");
      return true;
    });
  }
  // The worker command it prints names the variables, never their values.
  const shown = workerCommand(of({ SPOOL_NATS_TOKEN: "s3cret" })!);
  assert.match(
    shown,
    /^SPOOL_NATS_TOKEN=\.\.\. deno run -A src\/pool\/nats\/remote_worker_main\.ts/,
  );
  assert.doesNotMatch(shown, /s3cret/);
  assert.match(workerCommand(of({}, { "nats-creds": "a.creds" })!), / --creds a\.creds$/);
});
