/**
 * The `spool` command line:
 *
 *   deno run -A src/pipeline/cli.ts run <pipeline.json> [--fresh]
 *   deno run -A src/pipeline/cli.ts graph <pipeline.json> [--dot]
 *   deno run -A src/pipeline/cli.ts snapshots list|verify|prune <dir> [--keep N]
 *   deno run -A src/pipeline/cli.ts schema
 *   deno run -A src/pipeline/cli.ts worker --pool NAME --module worker.ts [--servers ...] [...]
 *
 * `run` resumes from the description's checkpoint store when it has one and says from where;
 * a job whose last checkpoint marks it finished is reported complete and not run again
 * (`--fresh` starts over); Ctrl-C / SIGTERM stop gracefully with a last checkpoint (a second
 * signal exits at once). `worker` runs a remote worker of a NATS pool until SIGTERM / SIGINT
 * (`src/pool/nats/remote_worker_main.ts`, its flags and exit codes). Flags take `--flag value`
 * or `--flag=value`. See docs/cli.md.
 *
 * Exit codes: 0 done (or already complete), 1 the run failed, 2 bad usage or description,
 * 130 / 143 stopped by SIGINT / SIGTERM (resumable).
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { InvalidArgumentError, SpoolError } from "../errors.ts";
import { LatestStatesKeeper } from "../state/keepers.ts";
import { StateStore } from "../state/store.ts";
import { PipelineBuildError } from "./errors.ts";
import { Graph, GraphError } from "./graph.ts";
import type { PipelineDescription } from "./description.ts";
import { parseDescription } from "./description_check.ts";
import { descriptionPaths } from "./description_paths.ts";
import { loadPipeline } from "./loader.ts";
import { consumeSink, type PipelineRun } from "./run.ts";
import type { PipelineEvent } from "./run_types.ts";
import schema from "./pipeline.schema.json" with { type: "json" };

const USAGE = "usage: spool run <pipeline.json> [--fresh]\n" +
  "       spool graph <pipeline.json> [--dot]\n" +
  "       spool snapshots list|verify|prune <dir> [--keep N]\n" +
  "       spool schema\n" +
  "       spool worker --pool NAME --module worker.ts [--servers URL[,URL]] [--concurrency N] ...\n" +
  "         (a remote worker of a NATS pool: spool worker --help lists its flags)";

/** Where a description's store and sink outputs are (see `descriptionPaths`). */
type DescriptionPaths = ReturnType<typeof descriptionPaths>;

/** Bad usage: printed with the usage text, exit code 2. */
class UsageError extends Error {}

const EXIT = { ok: 0, failed: 1, usage: 2, SIGINT: 130, SIGTERM: 143 } as const;

function say(text: string): void {
  console.error(`spool: ${text}`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `parseArgs` for one command: its flags, its positionals (exactly `names`). */
function argsOf<O extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: string[],
  options: O,
  names: string[],
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${command}: ${messageOf(error)}`);
  }
  if (parsed.positionals.length !== names.length) {
    throw new UsageError(
      `${command} takes ${names.join(" ")}, received ${
        parsed.positionals.length === 0 ? "nothing" : JSON.stringify(parsed.positionals)
      }`,
    );
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

/** Read and check a description file; its URL is the base of its relative references. */
async function readDescription(
  path: string,
): Promise<{ d: PipelineDescription; base: URL; file: string }> {
  const abs = resolve(path);
  let text: string;
  try {
    text = await Deno.readTextFile(abs);
  } catch (error) {
    throw new UsageError(`cannot read the description ${abs}: ${messageOf(error)}`);
  }
  return { d: parseDescription(text, { file: abs }), base: pathToFileURL(abs), file: abs };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The newest snapshot of `store` when it marks the run finished (verified), else undefined. */
async function finishedCheckpoint(store: string): Promise<string | undefined> {
  if (!(await exists(store))) return undefined;
  await using s = new StateStore(store, { readOnly: true });
  const latest = await s.latest();
  const meta = latest?.meta as { pipeline?: { checkpoint?: number; done?: boolean } } | undefined;
  if (latest === undefined || meta?.pipeline?.done !== true) return undefined;
  // A damaged snapshot is reported (SnapshotCorruptError), never taken as "complete".
  await s.verify(latest.path);
  return `checkpoint ${meta.pipeline.checkpoint} (${latest.path})`;
}

async function graphCommand(args: string[]): Promise<number> {
  const { values, positionals } = argsOf("graph", args, { dot: { type: "boolean" } }, [
    "<pipeline.json>",
  ]);
  const { d } = await readDescription(positionals[0]!);
  // The graph alone: no module is imported and no pool is started to draw it.
  const g = new Graph();
  for (const n of d.nodes) g.addNode(n.name, n.source ? [] : n.inputs);
  console.log((values.dot ? g.toDot() : g.toMermaid()).trimEnd());
  return EXIT.ok;
}

/** Refuse a description whose source nodes lack an entry in `sources` (`run` needs them all). */
function checkSourcesGiven(d: PipelineDescription, file: string): void {
  const missing = d.nodes.filter((n) => n.source && d.sources?.[n.name] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      `the source node(s) ${
        missing.map((n) => JSON.stringify(n.name)).join(", ")
      } have no entry in "sources" of ${file}`,
    );
  }
}

/** `--fresh`: remove the store's checkpoints and empty the appending sinks' files. */
async function startFresh(paths: DescriptionPaths): Promise<void> {
  if (paths.store !== undefined && await exists(paths.store)) {
    await using s = new StateStore(paths.store);
    const removed = await s.prune(new LatestStatesKeeper(0));
    say(`--fresh: removed ${removed.length} checkpoint(s) from ${paths.store}`);
  }
  for (const [name, sink] of Object.entries(paths.sinks)) {
    // An appending sink restarts too (its lines would be written a second time); a files
    // sink overwrites its outputs by sequence number.
    if (sink.kind === "ndjson" && sink.path !== undefined && await exists(sink.path)) {
      await Deno.writeTextFile(sink.path, "");
      say(`--fresh: emptied ${sink.path} (sink ${JSON.stringify(name)})`);
    }
  }
}

type CheckpointEvent = Extract<PipelineEvent, { type: "checkpoint" }>;

/** What a run tells the user as it goes; `onCheckpoint` sees each committed checkpoint. */
function runLogger(onCheckpoint: (e: CheckpointEvent) => void): (e: PipelineEvent) => void {
  return (e) => {
    if (e.type === "run-start") {
      if (e.resumed) {
        say(`resumed from checkpoint ${e.checkpoint} at ${JSON.stringify(e.positions)}`);
      } else say("started from the beginning");
    } else if (e.type === "checkpoint") {
      onCheckpoint(e);
      say(`checkpoint ${e.checkpoint} -> ${e.path}${e.done ? " (done)" : ""}`);
    } else if (e.type === "node-error") {
      say(`${e.node} failed on an item (${e.policy}): ${messageOf(e.error)}`);
    }
  };
}

type StopSignal = "SIGINT" | "SIGTERM";

/**
 * Stop `run` gracefully on the first SIGINT / SIGTERM, exit at once on a second one; returns
 * the signal that stopped it (read after the run) and the listeners' removal.
 */
function stopOnSignals(
  run: PipelineRun,
  hasStore: boolean,
): { stoppedBy(): StopSignal | undefined; remove(): void } {
  let stoppedBy: StopSignal | undefined;
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = () => {
      if (stoppedBy !== undefined) {
        say(`${signal} again: exiting now; a re-run resumes from the last committed checkpoint`);
        Deno.exit(EXIT[signal]);
      }
      stoppedBy = signal;
      say(
        `${signal}: stopping${
          hasStore ? " (taking a last checkpoint)" : ""
        }; press Ctrl-C again to exit at once`,
      );
      run.stop().catch(() => {});
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return {
    stoppedBy: () => stoppedBy,
    remove: () => {
      for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    },
  };
}

/** Say how many items went to the dead-letter output (this run's and, after a resume, all). */
function reportDeadLetters(run: PipelineRun): void {
  const dead = run.deadLetters.length;
  const deadTotal = run.deadLettersTotal;
  if (deadTotal > 0) {
    // After a resume the earlier runs' dead letters count too (each once): say both.
    say(
      deadTotal === dead
        ? `${dead} item(s) went to the dead-letter output`
        : `${dead} item(s) went to the dead-letter output in this run (${deadTotal} in all runs)`,
    );
  }
}

/** Say where a stopped run stands and how a re-run goes on. */
function reportStopped(
  stoppedBy: StopSignal | undefined,
  hasStore: boolean,
  last: CheckpointEvent | undefined,
): void {
  say(
    !hasStore
      ? `stopped by ${stoppedBy}; the description has no checkpoint store, so a re-run starts over`
      : last === undefined
      ? `stopped by ${stoppedBy} before any checkpoint; a re-run starts from the beginning`
      : `stopped by ${stoppedBy} at checkpoint ${last.checkpoint} ` +
        `(${JSON.stringify(last.positions)}, ${last.path}); run the same command again to resume`,
  );
}

/** Run a checked description to its end (or a signal); returns the exit code. */
async function runDescription(
  d: PipelineDescription,
  base: URL,
  paths: DescriptionPaths,
): Promise<number> {
  await using loaded = await loadPipeline(d, { base });
  let last: CheckpointEvent | undefined;
  const run = loaded.pipeline.run(loaded.sources, {
    ...loaded.runOptions,
    logger: runLogger((e) => {
      last = e;
    }),
  });
  const hasStore = paths.store !== undefined;
  const signals = stopOnSignals(run, hasStore);
  try {
    await Promise.all([
      // consume() fails the run when a sink's consumer throws (as runToCompletion does): a
      // reader that only stopped reading would let the run go on without that sink.
      ...loaded.pipeline.sinks().map((name) => consumeSink(run, name, loaded.sinks[name]!)),
      run.done,
    ]);
  } catch (error) {
    say(`the run failed: ${messageOf(error)}`);
    return EXIT.failed;
  } finally {
    signals.remove();
  }
  reportDeadLetters(run);
  const stoppedBy = signals.stoppedBy();
  // A signal that came after the last item still let the run finish: then it is done.
  const finished = hasStore ? last?.done === true : stoppedBy === undefined;
  if (!finished) {
    reportStopped(stoppedBy, hasStore, last);
    return EXIT[stoppedBy!];
  }
  const where = Object.entries(d.sinks ?? {})
    .map(([k, v]) => `${k} -> ${JSON.stringify(v)}`).join(", ");
  say(`done${where ? `; outputs: ${where}` : ""}`);
  return EXIT.ok;
}

async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = argsOf("run", args, { fresh: { type: "boolean" } }, [
    "<pipeline.json>",
  ]);
  const { d, base, file } = await readDescription(positionals[0]!);
  checkSourcesGiven(d, file);
  const paths = descriptionPaths(d, base);
  if (values.fresh) await startFresh(paths);
  else if (paths.store !== undefined) {
    const finished = await finishedCheckpoint(paths.store);
    if (finished !== undefined) {
      say(
        `the job is complete: ${finished} marks the run finished; nothing to do ` +
          `(run with --fresh to start over)`,
      );
      return EXIT.ok;
    }
  }
  return await runDescription(d, base, paths);
}

async function snapshotsCommand(args: string[]): Promise<number> {
  const { values, positionals } = argsOf("snapshots", args, { keep: { type: "string" } }, [
    "list|verify|prune",
    "<dir>",
  ]);
  const [sub, dir] = positionals as [string, string];
  if (!["list", "verify", "prune"].includes(sub)) {
    throw new UsageError(`snapshots takes list, verify or prune, received ${JSON.stringify(sub)}`);
  }
  if (sub === "prune") {
    const keep = values.keep === undefined ? 3 : Number(values.keep);
    if (values.keep !== undefined && (!/^\d+$/.test(values.keep) || !Number.isSafeInteger(keep))) {
      throw new UsageError(
        `snapshots prune: --keep must be an integer >= 0, received ${JSON.stringify(values.keep)}`,
      );
    }
    await using store = new StateStore(dir);
    const removed = await store.prune(new LatestStatesKeeper(keep));
    for (const r of removed) console.log(`removed ${r}`);
    return EXIT.ok;
  }
  if (values.keep !== undefined) throw new UsageError(`snapshots ${sub} takes no --keep`);
  await using store = new StateStore(dir, { readOnly: true });
  let bad = 0;
  for (const info of await store.list()) {
    if (sub === "verify") {
      try {
        await store.verify(info.path);
        console.log(`ok  ${info.name}`);
      } catch (error) {
        bad++;
        console.log(`BAD ${info.name}: ${messageOf(error)}`);
      }
    } else {
      console.log(
        `${info.name}  ${info.createdAt.toISOString()}  ${info.bytes} bytes  ${info.files} files  ${
          JSON.stringify(info.meta ?? null)
        }`,
      );
    }
  }
  return bad > 0 ? EXIT.failed : EXIT.ok;
}

/**
 * Run the CLI with `args`; returns the exit code (it exits the process itself only on a second
 * Ctrl-C / SIGTERM during `run`).
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "run":
        return await runCommand(rest);
      case "graph":
        return await graphCommand(rest);
      case "snapshots":
        return await snapshotsCommand(rest);
      case "worker": {
        // Its own flags, usage and exit codes (0 stopped, 1 failed, 2 bad usage). Imported here:
        // the other commands do not load the NATS client.
        const { remoteWorkerMain } = await import("../pool/nats/remote_worker_main.ts");
        return await remoteWorkerMain(rest);
      }
      case "schema":
        argsOf("schema", rest, {}, []);
        console.log(JSON.stringify(schema, null, 2));
        return EXIT.ok;
      case "help":
      case "--help":
      case "-h":
        console.log(USAGE);
        return EXIT.ok;
      default:
        throw new UsageError(
          command === undefined ? "no command" : `unknown command ${JSON.stringify(command)}`,
        );
    }
  } catch (error) {
    if (error instanceof UsageError) {
      say(error.message);
      console.error(USAGE);
      return EXIT.usage;
    }
    // A bad description (InvalidArgumentError listing every problem, PipelineBuildError naming
    // a missing module, GraphError) is the user's to fix: exit 2. Any other typed error (a
    // corrupt snapshot, a worker whose init failed): exit 1. Both print the message only.
    if (error instanceof SpoolError) {
      say(messageOf(error));
      const bad = error instanceof InvalidArgumentError || error instanceof PipelineBuildError ||
        error instanceof GraphError;
      return bad ? EXIT.usage : EXIT.failed;
    }
    say(`unexpected error: ${error instanceof Error ? `${error.name}: ${error.message}` : error}`);
    return EXIT.failed;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
