/**
 * Credentials of a pipeline description on NATS, by reference only: against a server that wants
 * a token (or a user and password), a description naming the variable holding it (`tokenEnv`,
 * `user` + `passEnv`) runs its NATS pool node on a remote worker (started with
 * `SPOOL_NATS_TOKEN` in its environment) and checkpoints into a NATS bucket; a missing variable,
 * a wrong token or none at all fail clearly before the run; a secret written in the file is
 * refused without being echoed; the CLI's path tools refuse a NATS checkpoint store.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../src/errors.ts";
import { NatsConnectError } from "../src/nats/errors.ts";
import {
  loadPipeline,
  parseDescription,
  PipelineBuildError,
  type PipelineDescription,
} from "../src/pipeline/mod.ts";
import { descriptionPaths } from "../src/pipeline/description_paths.ts";
import { NatsStorage } from "../src/state/nats_storage.ts";
import { StateStore } from "../src/state/store.ts";
import { startNatsServer } from "./nats/server.ts";
import { startRemoteWorker } from "./fixtures/remote_worker_process.ts";

const WORKER = new URL("./fixtures/nats_pool_worker.ts", import.meta.url).href;
const TOKEN = "t0ken-for-the-pipeline-test";
const VAR = "SPOOL_TEST_PIPELINE_TOKEN";
const ITEMS = 30;

type NatsRef = Record<string, unknown>;

/** range → a NATS pool node (x * 3) → sink; pool and store connect with `auth`. */
function description(url: string, auth: NatsRef, bucket?: string): PipelineDescription {
  return {
    nodes: [
      { name: "n", source: true },
      { name: "w", inputs: ["n"], pool: "w", errors: "dead-letter", chunkSize: 4 },
    ],
    pools: {
      w: { module: WORKER, kind: "nats", size: 2, nats: { servers: url, pool: "auth", ...auth } },
    },
    sources: { n: { range: ITEMS } },
    ...(bucket === undefined ? {} : {
      checkpoint: { store: { nats: { servers: url, bucket, ...auth } }, every: { items: 10 } },
    }),
  } as PipelineDescription;
}

Deno.test("a description naming its token by variable runs a NATS pool node and checkpoints to a NATS bucket on a token server", async () => {
  await using server = await startNatsServer({ token: TOKEN });
  await using _w = await startRemoteWorker({
    url: server.url,
    pool: "auth",
    module: new URL(WORKER),
    args: { factor: 3 },
    env: { SPOOL_NATS_TOKEN: TOKEN },
  });
  Deno.env.set(VAR, TOKEN);
  try {
    {
      await using loaded = await loadPipeline(description(server.url, { tokenEnv: VAR }, "ck"));
      assert.ok(loaded.runOptions.store instanceof StateStore, "the loader opened the NATS store");
      const r = await loaded.pipeline.runToCompletion(loaded.sources, loaded.runOptions);
      const expected = Array.from({ length: ITEMS }, (_, x) => 3 * x).filter((_, x) => x % 7 !== 3);
      assert.deepEqual(r.outputs.w, expected);
      assert.equal(r.deadLetters.length, 4, "x % 7 === 3 fails: 3, 10, 17, 24");
    }
    // The checkpoints are in the bucket (read with the same token), and the load released the lock.
    await using store = await StateStore.withStorage(
      await NatsStorage.connect({ servers: server.url, token: TOKEN, bucket: "ck" }),
      { readOnly: true },
    );
    assert.ok((await store.list()).length >= 1, "a checkpoint in the NATS bucket");
  } finally {
    Deno.env.delete(VAR);
  }
});

Deno.test("a description's credentials fail clearly: variable not set (before any connect), wrong token, none", async () => {
  // Nothing listens on port 9: a missing variable is found before connecting.
  Deno.env.delete(VAR);
  for (const bucket of [undefined, "ck"]) {
    await assert.rejects(
      () => loadPipeline(description("nats://127.0.0.1:9", { tokenEnv: VAR }, bucket)),
      (e: Error) => {
        assert.ok(e instanceof PipelineBuildError, String(e));
        assert.match(
          e.message,
          new RegExp(
            `^Cannot load the pipeline description: pools\\.w\\.nats\\.tokenEnv: the ` +
              `environment variable ${VAR} holding the NATS token is not set, received "${VAR}"`,
          ),
        );
        return true;
      },
    );
  }
  await using server = await startNatsServer({ token: TOKEN });
  Deno.env.set(VAR, "not-the-token");
  try {
    for (const auth of [{ tokenEnv: VAR }, {}]) {
      await assert.rejects(
        () => loadPipeline(description(server.url, auth)),
        (e: Error) => e instanceof NatsConnectError && /refused the credentials/.test(e.message),
        JSON.stringify(auth),
      );
    }
  } finally {
    Deno.env.delete(VAR);
  }
});

Deno.test("a NATS checkpoint store with user + passEnv on a user/password server", async () => {
  await using server = await startNatsServer({ user: "spool", password: "pw-123" });
  const d: PipelineDescription = {
    nodes: [{ name: "n", source: true }],
    sources: { n: { range: 5 } },
    checkpoint: {
      store: { nats: { servers: server.url, bucket: "up", user: "spool", passEnv: VAR } },
      every: { items: 2 },
    },
  };
  Deno.env.set(VAR, "pw-123");
  try {
    {
      await using loaded = await loadPipeline(d);
      const r = await loaded.pipeline.runToCompletion(loaded.sources, loaded.runOptions);
      assert.deepEqual(r.outputs.n, [0, 1, 2, 3, 4]);
    }
    Deno.env.set(VAR, "wrong");
    await assert.rejects(() => loadPipeline(d), NatsConnectError);
    Deno.env.delete(VAR);
    await assert.rejects(
      () => loadPipeline(d),
      /checkpoint\.store\.nats\.passEnv: the environment variable \w+ holding the password of spool is not set/,
    );
  } finally {
    Deno.env.delete(VAR);
  }
});

Deno.test("a description's NATS checkpoint store: a stopped run resumes from it in a second load (the first released its lock)", async () => {
  await using server = await startNatsServer({ token: TOKEN });
  const FNS = new URL("./fixtures/pipeline_fns.ts", import.meta.url).href;
  const d: PipelineDescription = {
    nodes: [
      { name: "n", source: true },
      { name: "c", inputs: ["n"], fn: { module: FNS, export: "count" }, state: { n: 0 } },
    ],
    sources: {
      n: {
        module: new URL("./fixtures/pipeline_slow_source.ts", import.meta.url).href,
        export: "slowRange",
      },
    },
    checkpoint: {
      store: { nats: { servers: server.url, bucket: "resume", tokenEnv: VAR } },
      every: { items: 100 },
      keep: 2,
    },
  };
  Deno.env.set(VAR, TOKEN);
  try {
    {
      await using loaded = await loadPipeline(d);
      const run = loaded.pipeline.run(loaded.sources, {
        ...loaded.runOptions,
        logger: (e) => {
          if (e.type === "checkpoint") run.stop().catch(() => {});
        },
      });
      await Promise.all([
        (async () => {
          for await (const _ of run.entries("c")) { /* read the sink to its end */ }
        })(),
        run.done,
      ]);
    }
    const starts: unknown[] = [];
    await using again = await loadPipeline(d);
    const r = await again.pipeline.runToCompletion(again.sources, {
      ...again.runOptions,
      logger: (e) => void (e.type === "run-start" && starts.push(e)),
    });
    const start = starts[0] as { resumed: boolean; positions: { n: number } };
    assert.ok(start.resumed, JSON.stringify(start));
    assert.ok(start.positions.n > 0 && start.positions.n < 2000, JSON.stringify(start));
    // The count went on from the checkpointed state: 2000 items counted once each.
    assert.deepEqual(r.states.c, { n: 2000 });
    assert.equal(r.outputs.c!.length, 2000 - start.positions.n);
    assert.equal(r.outputs.c!.at(-1), 2000);
  } finally {
    Deno.env.delete(VAR);
  }
});

Deno.test("a secret written in a description is refused without being echoed", () => {
  const url = "nats://127.0.0.1:4222";
  for (
    const [auth, instead] of [
      [
        { token: "s3cret-value" },
        /nats\.token: a secret does not belong in a description: use tokenEnv/,
      ],
      [{ user: "u", pass: "s3cret-value" }, /nats\.pass: a secret does not belong .*: use passEnv/],
      [{ nkeySeed: "s3cret-value" }, /nats\.nkeySeed: a secret does not belong .*: use credsFile/],
    ] as const
  ) {
    for (const bucket of [undefined, "b"]) {
      assert.throws(() => parseDescription(description(url, auth, bucket)), (e: Error) => {
        assert.ok(e instanceof InvalidArgumentError);
        assert.match(e.message, instead);
        assert.doesNotMatch(e.message, /s3cret-value/);
        return true;
      });
    }
  }
});

Deno.test("credsFile and tls paths resolve against the description's directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-pipeline-creds-" });
  try {
    const d = description("nats://127.0.0.1:9", { credsFile: "secrets/none.creds" });
    // connectNats checks that the file exists: the message names the resolved path.
    await assert.rejects(
      () => loadPipeline(d, { base: `${dir}/pipeline.json` }),
      (e: Error) =>
        e instanceof InvalidArgumentError && e.message.includes(`${dir}/secrets/none.creds`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the CLI's path tools (descriptionPaths: --fresh, completion check) refuse a NATS checkpoint store", () => {
  const d = description("nats://127.0.0.1:9", {}, "b");
  assert.throws(
    () => descriptionPaths(d, undefined),
    (e: Error) =>
      e instanceof PipelineBuildError &&
      /checkpoint\.store: a NATS checkpoint store is not supported by this tool yet.*received "nats:b"/
        .test(e.message),
  );
});

Deno.test("spool run refuses a description with a NATS checkpoint store (exit 2), before connecting", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-cli-nats-store-" });
  try {
    const file = `${dir}/p.json`;
    await Deno.writeTextFile(file, JSON.stringify(description("nats://127.0.0.1:9", {}, "b")));
    const cli = fileURLToPath(new URL("../src/pipeline/cli.ts", import.meta.url));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "run", file],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /checkpoint\.store: a NATS checkpoint store is not supported by this tool yet/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
