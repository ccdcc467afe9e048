/**
 * The `spool` command line:
 *
 *   deno run -A src/pipeline/cli.ts graph <pipeline.json> [--dot]
 *   deno run -A src/pipeline/cli.ts run <pipeline.json>
 *   deno run -A src/pipeline/cli.ts snapshots list|verify|prune <dir> [--keep N]
 *
 * `run` resumes from the description's checkpoint store when it has one, says from where, and
 * stops gracefully (with a last checkpoint) on Ctrl-C / SIGTERM.
 *
 * @module
 */

import { LatestStatesKeeper } from "../state/keepers.ts";
import { StateStore } from "../state/store.ts";
import { loadPipeline, parseDescription } from "./loader.ts";

function usage(): never {
  console.error(
    "usage: spool graph <pipeline.json> [--dot]\n" +
      "       spool run <pipeline.json>\n" +
      "       spool snapshots list|verify|prune <dir> [--keep N]",
  );
  Deno.exit(2);
}

function baseOf(path: string): URL {
  const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  return new URL(`file://${abs}`);
}

/** Run the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (cmd === "graph") {
    const path = rest[0] ?? usage();
    const loaded = await loadPipeline(parseDescription(await Deno.readTextFile(path)), {
      base: baseOf(path),
    });
    try {
      console.log(rest.includes("--dot") ? loaded.pipeline.toDot() : loaded.pipeline.toMermaid());
    } finally {
      await loaded.close();
    }
    return 0;
  }
  if (cmd === "run") {
    const path = rest[0] ?? usage();
    await using loaded = await loadPipeline(
      parseDescription(await Deno.readTextFile(path)),
      { base: baseOf(path) },
    );
    const run = loaded.pipeline.run(loaded.sources, {
      ...loaded.runOptions,
      logger: (e) => {
        if (e.type === "run-start" && e.resumed) {
          console.error(
            `spool: resumed from checkpoint ${e.checkpoint} at ${JSON.stringify(e.positions)}`,
          );
        } else if (e.type === "checkpoint") {
          console.error(`spool: checkpoint ${e.checkpoint} -> ${e.path}${e.done ? " (done)" : ""}`);
        } else if (e.type === "node-error") {
          console.error(`spool: ${e.node} failed on an item (${e.policy}): ${e.error}`);
        }
      },
    });
    const onSignal = () => {
      console.error("spool: stopping (a last checkpoint is taken when a store is configured)");
      void run.stop();
    };
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    for (const s of signals) Deno.addSignalListener(s, onSignal);
    try {
      await Promise.all([
        // consume() fails the run when a sink's consumer throws (as runToCompletion does): a
        // reader that only stopped reading would let the run go on without that sink.
        ...loaded.pipeline.sinks().map((name) => run.consume(name, loaded.sinks[name]!)),
        run.done,
      ]);
      if (run.deadLetters.length > 0) {
        console.error(`spool: ${run.deadLetters.length} item(s) went to the dead-letter output`);
      }
      const where = Object.entries(loaded.description.sinks ?? {})
        .map(([k, v]) => `${k} -> ${JSON.stringify(v)}`).join(", ");
      console.error(`spool: done${where ? `; outputs: ${where}` : ""}`);
      return 0;
    } catch (error) {
      console.error(`spool: the run failed: ${error instanceof Error ? error.message : error}`);
      return 1;
    } finally {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
    }
  }
  if (cmd === "snapshots") {
    const [sub, dir] = rest;
    if (!dir || !["list", "verify", "prune"].includes(sub ?? "")) usage();
    if (sub === "prune") {
      const i = rest.indexOf("--keep");
      const keep = i >= 0 ? Number(rest[i + 1]) : 3;
      await using store = new StateStore(dir);
      const removed = await store.prune(new LatestStatesKeeper(keep));
      for (const r of removed) console.log(`removed ${r}`);
      return 0;
    }
    await using store = new StateStore(dir, { readOnly: true });
    let bad = 0;
    for (const info of await store.list()) {
      if (sub === "verify") {
        try {
          await store.verify(info.path);
          console.log(`ok  ${info.name}`);
        } catch (error) {
          bad++;
          console.log(`BAD ${info.name}: ${error instanceof Error ? error.message : error}`);
        }
      } else {
        console.log(
          `${info.name}  ${info.createdAt.toISOString()}  ${info.bytes} bytes  ${info.files} files  ${
            JSON.stringify(info.meta ?? null)
          }`,
        );
      }
    }
    return bad > 0 ? 1 : 0;
  }
  usage();
}

if (import.meta.main) Deno.exit(await main(Deno.args));
