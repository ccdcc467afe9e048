/**
 * `spool worker` (src/pipeline/cli.ts worker, the same code as src/pool/nats/remote_worker_main.ts,
 * the `./worker` package export): flags checked (exit 2 with the message and the usage), `--help`,
 * secrets from the environment, a real worker process started through the CLI serving a
 * `NatsPool.map` against a real nats-server, and SIGTERM stopping it with exit 0 after `dispose`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { NatsPool } from "../src/pool/nats/nats_pool.ts";
import {
  parseWorkerArgs,
  remoteWorkerMain,
  WORKER_USAGE,
} from "../src/pool/nats/remote_worker_main.ts";
import { startNatsServer } from "./nats/server.ts";
import { withTempDir } from "./temp_dir.ts";
import type fixture from "./fixtures/nats_pool_worker.ts";

const CLI = fileURLToPath(new URL("../src/pipeline/cli.ts", import.meta.url));
const ENTRY = fileURLToPath(new URL("../src/pool/nats/remote_worker_main.ts", import.meta.url));
const MODULE = fileURLToPath(new URL("./fixtures/nats_pool_worker.ts", import.meta.url));
const decoder = new TextDecoder();

/** Run a command to its end (`deno run -A <file> ...args`). */
async function run(file: string, args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", file, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const BAD: { argv: string[]; message: string }[] = [
  { argv: ["--pool", "p", "--module", "m", "--bogus", "1"], message: "Unknown option '--bogus'" },
  { argv: ["--pool", "p", "--module"], message: "Option '--module <value>' argument missing" },
  { argv: ["--pool", "p", "--module", "m", "--concurrency", "many"], message: "--concurrency" },
  { argv: ["--pool", "p", "--module", "m", "--concurrency", "0"], message: "integer >= 1" },
  { argv: ["--pool", "p", "--module", "m", "--index=1.5"], message: "--index must be" },
  { argv: ["--pool", "p", "--module", "m", "--ack-wait-ms", "-5"], message: "--ack-wait-ms" },
  { argv: ["--pool", "p", "--module", "m", "--args", "{nope"], message: "--args must be JSON" },
  { argv: ["--pool", "p", "--module", "m", "extra"], message: "extra" },
  { argv: ["--pool", "p", "--module", "m", "--max-deliveries=0"], message: "--max-deliveries" },
  { argv: ["--module", "m"], message: "--pool is required" },
  { argv: [], message: "--pool and --module are required" },
  { argv: ["--pool", "p", "--module", "m", "--servers", "a,,b"], message: "empty URL" },
];

Deno.test("spool worker: each bad usage returns 2 with a message naming the flag, then the usage", async () => {
  for (const { argv, message } of BAD) {
    const lines: string[] = [];
    const code = await remoteWorkerMain(argv, { log: (l) => lines.push(l), env: () => undefined });
    assert.equal(code, 2, JSON.stringify(argv));
    assert.ok(lines[0]!.startsWith("spool worker: "), lines[0]);
    assert.ok(lines[0]!.includes(message), `${JSON.stringify(argv)}: ${lines[0]}`);
    assert.equal(lines[1], WORKER_USAGE);
  }
});

Deno.test("spool worker: bad flags through the CLI and through the entry file exit 2 with the message on stderr", async () => {
  const viaCli = await run(CLI, ["worker", "--pool", "p", "--module", "m", "--size", "x"]);
  assert.equal(viaCli.code, 2);
  assert.match(viaCli.stderr, /spool worker: --size must be an integer >= 1, received "x"/);
  assert.match(viaCli.stderr, /usage: spool worker --pool NAME/);
  assert.equal(viaCli.stdout, "");
  const viaEntry = await run(ENTRY, ["--pool", "p", "--oops"]);
  assert.equal(viaEntry.code, 2);
  assert.match(viaEntry.stderr, /Unknown option '--oops'/);
});

Deno.test("spool worker --help prints the usage on stdout and exits 0 (CLI and entry file); spool --help names the command", async () => {
  for (const [file, args] of [[CLI, ["worker", "--help"]], [ENTRY, ["-h"]]] as const) {
    const r = await run(file, [...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd(), WORKER_USAGE);
  }
  const top = await run(CLI, ["--help"]);
  assert.match(top.stdout, /spool worker --pool NAME --module worker\.ts/);
});

Deno.test("spool worker: the flags become the worker's options; secrets come from the environment, a flag wins", () => {
  const env: Record<string, string> = {
    SPOOL_NATS_TOKEN: "from-env",
    SPOOL_NATS_PASS: "pw",
    SPOOL_NATS_USER: "u",
    SPOOL_NATS_SERVERS: "nats://a:4222,nats://b:4222",
  };
  const parsed = parseWorkerArgs(
    [
      ...["--pool=p", "--module", "./w.ts", "--concurrency", "3", "--index", "0", "--size", "2"],
      ...["--args", '{"k":[1]}', "--ack-wait-ms", "1500", "--export", "worker", "--name", "w0"],
      ...["--tls-ca", "ca.pem", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
      ...["--connect-timeout-ms", "900", "--user", "flag-user", "--max-deliveries", "5"],
    ],
    (name) => env[name],
  );
  assert.ok(!parsed.help);
  assert.deepEqual(parsed.options, {
    servers: ["nats://a:4222", "nats://b:4222"],
    pool: "p",
    module: "./w.ts",
    exportName: "worker",
    concurrency: 3,
    index: 0,
    size: 2,
    args: { k: [1] },
    ackWaitMs: 1500,
    maxDeliveries: 5,
    token: "from-env",
    user: "flag-user",
    pass: "pw",
    name: "w0",
    tls: { caFile: "ca.pem", certFile: "c.pem", keyFile: "k.pem" },
    timeoutMs: 900,
  });
  const nkey = parseWorkerArgs(
    ["--pool", "p", "--module", "m"],
    (name) =>
      ({ SPOOL_NATS_NKEY_SEED: "SUXYZ", SPOOL_NATS_CREDS: "/c.creds" } as Record<string, string>)[
        name
      ],
  );
  assert.ok(!nkey.help);
  assert.equal(nkey.options.nkeySeed, "SUXYZ");
  assert.equal(nkey.options.credsFile, "/c.creds");
  assert.deepEqual(nkey.options.servers, ["nats://127.0.0.1:4222"]);
});

Deno.test("spool worker: a module that cannot be loaded exits 2 (a bad --module value) with the reason on stderr", async () => {
  const r = await run(CLI, ["worker", "--pool", "p", "--module", "./no_such_worker_module.ts"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /spool worker: .*no_such_worker_module/);
});

/** A worker process of the CLI (`cli.ts worker ...`), its stdout read until `ready`. */
async function startCliWorker(args: string[], env?: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "worker", ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errText = "";
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (errText += chunk) }),
  ).then(() => errText);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("ready")) {
    const r = await reader.read();
    if (r.done) break;
    seen += r.value;
  }
  const rest = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  let ended: Promise<{ status: Deno.CommandStatus; stderr: string }> | undefined;
  const end = (signal: Deno.Signal) =>
    ended ??= (async () => {
      try {
        child.kill(signal);
      } catch { /* exited */ }
      const status = await child.status;
      await rest;
      return { status, stderr: await stderr };
    })();
  if (!seen.includes("ready")) {
    const { stderr: text } = await end("SIGKILL");
    throw new Error(`the worker did not start: ${seen} ${text}`);
  }
  return {
    pid: child.pid,
    /** What the worker wrote on stderr so far. */
    stderrSoFar: () => errText,
    end,
    [Symbol.asyncDispose]: async () => void await end("SIGKILL"),
  };
}

Deno.test("spool worker started through the CLI serves a NatsPool.map; SIGTERM stops it with exit 0 after dispose ran", async () => {
  await withTempDir(async (dir) => {
    await using server = await startNatsServer();
    await using pool = await NatsPool.start<typeof fixture>({
      servers: server.url,
      pool: "cli",
      size: 2,
    });
    const args = JSON.stringify({ factor: 5, dir });
    await using worker = await startCliWorker([
      ...["--servers", server.url, "--pool", "cli", "--module", MODULE],
      ...["--concurrency", "2", "--index", "4", `--args=${args}`],
    ]);
    const inputs = Array.from({ length: 30 }, (_, i) => i);
    const got = [];
    for await (const r of pool.map(inputs, { errors: "collect", chunkSize: 4 })) got.push(r);
    assert.deepEqual(got.map((r) => r.index), inputs);
    for (const r of got) {
      if (r.input % 7 === 3) assert.ok(!r.ok && r.error.message.includes(`bad input ${r.input}`));
      else assert.ok(r.ok && r.value === r.input * 5, JSON.stringify(r));
    }
    await assert.rejects(Deno.stat(`${dir}/disposed-4`), Deno.errors.NotFound);
    const { status, stderr } = await worker.end("SIGTERM");
    assert.equal(status.code, 0, stderr);
    assert.match(stderr, /SIGTERM: stopping/);
    assert.equal(await Deno.readTextFile(`${dir}/disposed-4`), "", "dispose ran before the exit");
  });
});

async function waitForFile(path: string): Promise<string> {
  for (;;) {
    try {
      return await Deno.readTextFile(path);
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

Deno.test("spool worker: a second SIGTERM while a task is held exits at once with 143, without dispose; the task goes to the next worker", async () => {
  await withTempDir(async (dir) => {
    await using server = await startNatsServer();
    await using pool = await NatsPool.start<typeof fixture>({
      servers: server.url,
      pool: "twice",
      size: 1,
      ackWaitMs: 1000,
    });
    const flags = ["--servers", server.url, "--pool", "twice", "--module", MODULE];
    await using worker = await startCliWorker([
      ...flags,
      ...["--ack-wait-ms", "1000", "--args", JSON.stringify({ factor: 2, dir, holdOn: 1 })],
    ]);
    const results = (async () => {
      const out = [];
      for await (const v of pool.map([0, 1, 2], { chunkSize: 1 })) out.push(v);
      return out;
    })();
    results.catch(() => {});
    await waitForFile(`${dir}/held`); // input 1 is held until <dir>/release exists
    const first = worker.end("SIGTERM");
    // the second signal only once the first was handled (two at once may arrive as one)
    while (!worker.stderrSoFar().includes("SIGTERM: stopping")) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const second = new Deno.Command("kill", { args: ["-TERM", String(worker.pid)] }).output();
    const { status, stderr } = await first;
    await second;
    assert.equal(status.code, 143, stderr);
    assert.match(stderr, /SIGTERM again: exiting now/);
    await assert.rejects(Deno.stat(`${dir}/disposed-0`), Deno.errors.NotFound);
    // the held input is redelivered after ack_wait to a worker that does not hold it
    await using next = await startCliWorker([...flags, "--index", "1", "--args", '{"factor":2}']);
    assert.deepEqual(await results, [0, 2, 4]);
    assert.equal((await next.end("SIGTERM")).status.code, 0);
  });
});

Deno.test({
  name:
    "spool worker: the token comes from SPOOL_NATS_TOKEN (not the command line); without it the server refuses the worker (exit 1)",
  fn: async () => {
    await using server = await startNatsServer({ token: "s3cret-token" });
    const flags = [
      ...["--servers", server.url, "--pool", "auth", "--module", MODULE],
      ...["--args", '{"factor":2}'],
    ];
    const refused = await run(CLI, ["worker", ...flags], { SPOOL_NATS_TOKEN: "" });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /refused the credentials|Authorization/i);
    await using pool = await NatsPool.start<typeof fixture>(
      {
        servers: server.url,
        pool: "auth",
        token: "s3cret-token",
      } as Parameters<typeof NatsPool.start>[0],
    );
    await using worker = await startCliWorker(flags, { SPOOL_NATS_TOKEN: "s3cret-token" });
    const got = [];
    for await (const v of pool.map([1, 2], { ordered: true })) got.push(v);
    assert.deepEqual(got, [2, 4]);
    assert.equal((await worker.end("SIGTERM")).status.code, 0);
  },
});
