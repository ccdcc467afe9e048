/**
 * The demo distributed: `--nats URL` runs its `enrich` stage on remote worker processes (two,
 * serving examples/demo_worker.ts) and its pipeline checkpoints in NATS; its output files are
 * byte-identical to the single-machine run's, also after a SIGKILL and a resume from the NATS
 * checkpoint. Its NATS flags are checked, and a directory's checkpoints keep their kind.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { parseDemoArgs } from "../examples/demo.ts";
import { InvalidArgumentError } from "../src/errors.ts";
import { startNatsServer } from "./nats/server.ts";

const DEMO = fileURLToPath(new URL("../examples/demo.ts", import.meta.url));
const ENTRY = fileURLToPath(new URL("../src/pool/nats/remote_worker_main.ts", import.meta.url));
const MODULE = fileURLToPath(new URL("../examples/demo_worker.ts", import.meta.url));
const decoder = new TextDecoder();

function demo(dir: string, extra: string[] = []): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DEMO, `--dir=${dir}`, "--readings=250000", "--files=5", "--part-mb=0.2"]
      .concat(extra),
    stdout: "piped",
    stderr: "piped",
  });
}

async function finish(dir: string, extra: string[] = []): Promise<string> {
  const out = await demo(dir, extra).output();
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
): Promise<AsyncDisposable> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ENTRY, "--servers", url, "--pool", "spool-demo", "--module", MODULE]
      .concat(["--concurrency", "2", "--index", String(index)], extra),
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

/** Run the demo and SIGKILL it once its progress (stderr) shows `fraction` of the lines read. */
async function killMidway(dir: string, extra: string[], fraction: number): Promise<void> {
  const child = demo(dir, extra).spawn();
  const stdout = new Response(child.stdout).text();
  let text = "";
  let killed = false;
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    const counts = [...text.matchAll(/readings: (\d+)\/(\d+)/g)];
    const last = counts.at(-1);
    if (!killed && last && Number(last[1]) >= fraction * Number(last[2])) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  const status = await child.status;
  await stdout;
  assert.equal(status.signal, "SIGKILL", `the run ended before its kill: ${text.slice(-500)}`);
}

Deno.test("demo --nats: remote workers and NATS checkpoints give the single-machine run's output bytes, also after a SIGKILL and a resume", async () => {
  const root = await Deno.makeTempDir({ prefix: "spool-demo-nats-" });
  try {
    const local = `${root}/local`;
    assert.match(await finish(local), /done in/);
    const expected = await outputs(local);
    assert.ok(Object.keys(expected).length > 10 && expected["out/summary.json"]);

    await using server = await startNatsServer();
    await using _w0 = await startDemoWorker(server.url, 0);
    await using _w1 = await startDemoWorker(server.url, 1);
    const nats = ["--nats", server.url];

    const whole = `${root}/nats`;
    await copyData(local, whole);
    const first = await finish(whole, nats);
    assert.match(first, /pool: remote workers of NATS pool "spool-demo"/);
    assert.match(first, /pipeline: starting/);
    assert.deepEqual(await outputs(whole), expected);

    // A run SIGKILLed mid-way resumes from its checkpoint in NATS (another bucket).
    const killed = `${root}/killed`;
    await copyData(local, killed);
    const bucket = [...nats, "--nats-bucket", "killed", "--save-every-ms=100"];
    await killMidway(killed, bucket, 0.4);
    const resumed = await finish(killed, bucket);
    assert.match(resumed, /pipeline: resumed from checkpoint #\d+ in NATS bucket killed/);
    assert.deepEqual(await outputs(killed), expected);

    // --fresh forgets the NATS checkpoints too: the run starts over.
    assert.match(await finish(killed, [...bucket, "--fresh"]), /pipeline: starting/);
    assert.deepEqual(await outputs(killed), expected);
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
    [["--nats-pool", "p"], /--nats-pool and --nats-bucket need --nats URL, received "p"/],
    [["--nats", ""], /--nats must be a URL or a comma-separated list, received ""/],
    [["--nats", "nats://a:1,"], /--nats must be a URL or a comma-separated list/],
    [
      ["--nats", "x", "--nats-pool", "a.b"],
      /--nats-pool must be 1 to 64 letters, digits, '_' or '-', received "a\.b"/,
    ],
    [["--nats", "x", "--nats-bucket", ""], /--nats-bucket must be 1 to 64 letters/],
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
