import assert from "node:assert/strict";
import { fileURLToPath, pathToFileURL } from "node:url";
import { baseOf, descriptionPaths, fileOf, pathOf, referenceUrl } from "./description_paths.ts";
import { PipelineBuildError } from "./errors.ts";

const jobFile = pathToFileURL("/jobs/p.json");

Deno.test("baseOf: a path ending in a separator names a directory", () => {
  assert.equal(baseOf("/jobs/").href, "file:///jobs/");
  assert.equal(baseOf("/jobs/p.json").href, "file:///jobs/p.json");
});

Deno.test("baseOf: a URL is taken as is; no base is the working directory", () => {
  assert.equal(baseOf("https://example.com/p.json").href, "https://example.com/p.json");
  assert.equal(fileURLToPath(baseOf(undefined)), `${Deno.cwd()}/`);
});

Deno.test("fileOf: the description's file only for a file URL that is not a directory", () => {
  assert.equal(fileOf(jobFile), "/jobs/p.json");
  assert.equal(fileOf(new URL("file:///jobs/")), undefined);
  assert.equal(fileOf(new URL("https://example.com/p.json")), undefined);
});

Deno.test("referenceUrl: a relative path resolves beside the description, # and % included", () => {
  assert.equal(fileURLToPath(referenceUrl("./fns#1.ts", jobFile)), "/jobs/fns#1.ts");
  assert.equal(fileURLToPath(referenceUrl("50%.ts", jobFile)), "/jobs/50%.ts");
  assert.equal(fileURLToPath(referenceUrl("a.ts", new URL("file:///jobs/"))), "/jobs/a.ts");
});

Deno.test("referenceUrl: URLs stay URLs; absolute paths become file URLs", () => {
  assert.equal(referenceUrl("npm:left-pad", jobFile).href, "npm:left-pad");
  assert.equal(referenceUrl("/lib/a.ts", jobFile).href, "file:///lib/a.ts");
  const web = new URL("https://example.com/jobs/p.json");
  assert.equal(referenceUrl("fns.js", web).href, "https://example.com/jobs/fns.js");
});

Deno.test("pathOf: a path that resolves to no file is a PipelineBuildError naming where", () => {
  assert.throws(
    () => pathOf("out", new URL("https://example.com/p.json"), 'sink "s"', "load it"),
    (e: unknown) =>
      e instanceof PipelineBuildError &&
      e.message === 'Cannot load it: sink "s": a path must resolve to a file, ' +
          'received "https://example.com/out"',
  );
});

Deno.test("descriptionPaths: the store and the file-writing sinks as paths", () => {
  const paths = descriptionPaths({
    nodes: [{ name: "a", source: true }, { name: "b", source: true }, { name: "c", source: true }],
    sinks: { a: { files: "out" }, b: { ndjson: "b.ndjson" }, c: { stdout: true } },
    checkpoint: { store: "ckpt" },
  }, jobFile);
  assert.deepEqual(paths, {
    store: "/jobs/ckpt",
    sinks: {
      a: { kind: "files", path: "/jobs/out" },
      b: { kind: "ndjson", path: "/jobs/b.ndjson" },
      c: { kind: "stdout" },
    },
  });
});
