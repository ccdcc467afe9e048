/**
 * Where the references of a pipeline description resolve: the base a description's relative
 * references start from, module references as URLs, and its paths (sink outputs, source files,
 * the checkpoint store) as file paths.
 *
 * @module
 */

import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadActionOf, type PipelineDescription } from "./description.ts";
import { PipelineBuildError } from "./errors.ts";

/** The description's file for messages: `base` when it is a file URL of a file, else none. */
export function fileOf(base: URL | undefined): string | undefined {
  if (base === undefined || base.protocol !== "file:" || base.pathname.endsWith("/")) {
    return undefined;
  }
  return fileURLToPath(base);
}

/** The base of a description's references: a URL, a path, or (undefined) the working directory. */
export function baseOf(base: string | URL | undefined): URL {
  if (base instanceof URL) return base;
  if (base === undefined) return pathToFileURL(resolve(Deno.cwd()) + "/");
  if (/^[a-z][a-z0-9+.-]*:/i.test(base) && !isAbsolute(base)) return new URL(base);
  // A path ending in a separator names a directory (resolve() would drop it).
  return pathToFileURL(resolve(base) + (/[\\/]$/.test(base) ? "/" : ""));
}

/**
 * A reference of the description as a URL. A URL (`https:`, `data:`, `npm:`, `file:`, ...) is
 * taken as is; an absolute path becomes a `file:` URL; a relative one is a path relative to
 * the description's directory (never parsed as a URL: a `#` or `%` in it is part of the name),
 * or a URL relative to a non-file `base`.
 */
export function referenceUrl(ref: string, base: URL): URL {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref) && !isAbsolute(ref)) return new URL(ref);
  if (isAbsolute(ref)) return pathToFileURL(ref);
  if (base.protocol !== "file:") return new URL(ref, base);
  const at = fileURLToPath(base);
  return pathToFileURL(resolve(base.pathname.endsWith("/") ? at : dirname(at), ref));
}

/** A path of the description (a sink directory, a source file, the store) as a file path. */
export function pathOf(ref: string, base: URL, where: string, action: string): string {
  const url = referenceUrl(ref, base);
  if (url.protocol !== "file:") {
    throw new PipelineBuildError(action, `${where}: a path must resolve to a file`, {
      received: url.href,
    });
  }
  return fileURLToPath(url);
}

/**
 * Where a description's relative paths resolve: the checkpoint store and the sink outputs as
 * file paths (`undefined` for sinks that write no file). For tools that inspect a description
 * without loading it (the CLI's `--fresh` and completion check); a NATS checkpoint store is a
 * {@linkcode PipelineBuildError} (those tools handle directory stores only).
 */
export function descriptionPaths(
  description: PipelineDescription,
  base: string | URL | undefined,
): { store?: string; sinks: Record<string, { kind: string; path?: string }> } {
  const url = baseOf(base);
  const action = loadActionOf(fileOf(url));
  const sinks: Record<string, { kind: string; path?: string }> = {};
  for (const [name, sink] of Object.entries(description.sinks ?? {})) {
    const where = `sink ${JSON.stringify(name)}`;
    if ("files" in sink) {
      sinks[name] = { kind: "files", path: pathOf(sink.files, url, where, action) };
    } else if ("ndjson" in sink) {
      sinks[name] = { kind: "ndjson", path: pathOf(sink.ndjson, url, where, action) };
    } else sinks[name] = { kind: "stdout" in sink ? "stdout" : "discard" };
  }
  const store = description.checkpoint?.store;
  if (store !== undefined && typeof store !== "string") {
    // --fresh and the completion check read a directory store: refuse rather than skip them.
    throw new PipelineBuildError(
      action,
      "checkpoint.store: a NATS checkpoint store is not supported by this tool yet (it handles " +
        "directory stores only); load the description with loadPipeline instead",
      { received: `nats:${store.nats.bucket}` },
    );
  }
  return {
    store: store === undefined ? undefined : pathOf(store, url, "checkpoint", action),
    sinks,
  };
}
