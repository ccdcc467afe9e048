/**
 * Resolving what a pipeline description refers to before anything starts: every `{module,
 * export}` function reference imported, every pool module and every (not followed) source file
 * found. Every failure is collected, so one error names every missing module at once.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { checkDefinition } from "../pool/define.ts";
import type { FunctionRef, PipelineDescription, PoolDescription } from "./description.ts";
import { referenceUrl } from "./description_paths.ts";
import { PipelineBuildError } from "./errors.ts";
import type { NodeFunction } from "./spec.ts";

/** The functions of a description, by the reference that names each. */
export type ResolvedFunctions = Map<FunctionRef, NodeFunction>;

/** A URL as a message shows it: a file's path, or the URL's first 80 characters. */
function displayedUrl(url: URL): string {
  return url.protocol === "file:" ? fileURLToPath(url) : url.href.slice(0, 80);
}

/** Import failures, collected so that every missing module is named at once. */
class ImportProblems {
  readonly list: { reason: string; module: string; error: unknown }[] = [];

  add(
    where: string,
    module: string,
    url: URL,
    error: unknown,
    what = "cannot import module",
  ): void {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
    this.list.push({
      reason: `${where}: ${what} ${JSON.stringify(module)} (${displayedUrl(url)}): ${why}`,
      module,
      error,
    });
  }

  throwIfAny(action: string): void {
    if (this.list.length === 0) return;
    const [first] = this.list;
    if (this.list.length === 1) {
      throw new PipelineBuildError(action, first!.reason, {
        received: first!.module,
        cause: first!.error,
      });
    }
    throw new PipelineBuildError(
      action,
      `${this.list.length} problems: ${this.list.map((p) => p.reason).join("; ")}`,
      {
        received: this.list.map((p) => p.module),
        cause: new AggregateError(this.list.map((p) => p.error)),
      },
    );
  }
}

/** The function `ref` names, or undefined with the failure recorded in `failures`. */
async function importFunction(
  ref: FunctionRef,
  base: URL,
  where: string,
  failures: ImportProblems,
): Promise<NodeFunction | undefined> {
  const url = referenceUrl(ref.module, base);
  let module: Record<string, unknown>;
  try {
    module = await import(url.href);
  } catch (error) {
    failures.add(where, ref.module, url, error);
    return undefined;
  }
  const name = ref.export ?? "default";
  const fn = module[name];
  if (typeof fn !== "function") {
    failures.add(
      where,
      ref.module,
      url,
      new TypeError(`its export ${JSON.stringify(name)} is not a function (it is ${typeof fn})`),
      "bad export of module",
    );
    return undefined;
  }
  return fn as NodeFunction;
}

/** Every function reference of the description, with where it is used (for messages). */
function functionRefsOf(description: PipelineDescription): [FunctionRef, string][] {
  const wanted: [FunctionRef, string][] = [];
  for (const n of description.nodes) {
    const where = `node ${JSON.stringify(n.name)}`;
    if (n.fn !== undefined) wanted.push([n.fn, where]);
    for (const c of n.chain ?? []) wanted.push([c, where]);
  }
  for (const [name, source] of Object.entries(description.sources ?? {})) {
    if ("module" in source) wanted.push([source, `source ${JSON.stringify(name)}`]);
  }
  return wanted;
}

/** Record a failure for each pool module that is a file and is not there. */
async function findPoolModules(
  description: PipelineDescription,
  base: URL,
  failures: ImportProblems,
): Promise<void> {
  for (const [name, pool] of Object.entries(description.pools ?? {})) {
    const url = referenceUrl(pool.module, base);
    if (pool.kind === "nats") {
      await checkRemoteModule(`pool ${JSON.stringify(name)}`, pool, url, failures);
      continue;
    }
    if (url.protocol !== "file:") continue;
    try {
      await Deno.stat(url);
    } catch (error) {
      failures.add(`pool ${JSON.stringify(name)}`, pool.module, url, error);
    }
  }
}

/**
 * The module of a NATS pool, imported here to check that its export is a worker definition:
 * the remote workers run their own copy (the coordinator cannot see which module they serve),
 * so a wrong `module` or `export` is caught before any task is sent.
 */
async function checkRemoteModule(
  where: string,
  pool: PoolDescription,
  url: URL,
  failures: ImportProblems,
): Promise<void> {
  let module: Record<string, unknown>;
  try {
    module = await import(url.href);
  } catch (error) {
    failures.add(where, pool.module, url, error);
    return;
  }
  const name = pool.export ?? "default";
  try {
    checkDefinition(`use the export ${JSON.stringify(name)}`, module[name]);
  } catch (error) {
    failures.add(where, pool.module, url, error, "bad export of module");
  }
}

/** Record a failure for each source file that is not there (unless followed: it may appear). */
async function findSourceFiles(
  description: PipelineDescription,
  base: URL,
  failures: ImportProblems,
): Promise<void> {
  for (const [name, source] of Object.entries(description.sources ?? {})) {
    const ref = "lines" in source ? source.lines : "ndjson" in source ? source.ndjson : undefined;
    if (ref === undefined || (source as { follow?: boolean }).follow === true) continue;
    const url = referenceUrl(ref, base);
    try {
      await Deno.stat(url);
    } catch (error) {
      failures.add(`source ${JSON.stringify(name)}`, ref, url, error, "cannot read file");
    }
  }
}

/**
 * Import every function of a checked description and find its pool modules and source files;
 * a {@linkcode PipelineBuildError} names every failure at once (so no pool is started for a
 * description whose modules are missing).
 */
export async function resolveModules(
  description: PipelineDescription,
  base: URL,
  action: string,
): Promise<ResolvedFunctions> {
  const failures = new ImportProblems();
  const functions = new Map<FunctionRef, NodeFunction | undefined>();
  for (const [ref, where] of functionRefsOf(description)) {
    functions.set(ref, await importFunction(ref, base, where, failures));
  }
  await findPoolModules(description, base, failures);
  // A missing input file is named now, before any pool starts.
  await findSourceFiles(description, base, failures);
  failures.throwIfAny(action);
  return functions as ResolvedFunctions;
}
