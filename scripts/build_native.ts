/**
 * Build the Rust addon and place it where the loader finds it (`native/spool_native.node`).
 *
 * Usage: `deno run -A scripts/build_native.ts [--if-cargo] [--debug]`
 * - `--if-cargo`: when cargo is not installed, print one line and exit 0 (the TypeScript
 *   implementation is used); used by `deno task test`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

const root = new URL("../native/", import.meta.url);
const args = new Set(Deno.args);
const profile = args.has("--debug") ? "debug" : "release";

function cargoPath(): string | undefined {
  const home = Deno.env.get("HOME");
  const candidates = ["cargo", ...(home ? [`${home}/.cargo/bin/cargo`] : [])];
  for (const c of candidates) {
    try {
      const out = new Deno.Command(c, { args: ["--version"], stdout: "null", stderr: "null" })
        .outputSync();
      if (out.success) return c;
    } catch {
      // not found: try the next one
    }
  }
  return undefined;
}

const cargo = cargoPath();
if (!cargo) {
  const msg =
    "spool: cargo not found, native module not built (the TypeScript implementation is used)";
  if (args.has("--if-cargo")) {
    console.error(msg);
    Deno.exit(0);
  }
  console.error(msg);
  Deno.exit(1);
}

const quiet = args.has("--if-cargo");
const build = await new Deno.Command(cargo, {
  args: ["build", ...(profile === "release" ? ["--release"] : []), "--quiet"],
  cwd: root,
  stdout: quiet ? "piped" : "inherit",
  stderr: quiet ? "piped" : "inherit",
}).output();
if (!build.success) {
  if (quiet) {
    await Deno.stderr.write(build.stdout);
    await Deno.stderr.write(build.stderr);
  }
  console.error("spool: cargo build of native/ failed");
  Deno.exit(1);
}

const lib = Deno.build.os === "windows"
  ? "spool_native.dll"
  : Deno.build.os === "darwin"
  ? "libspool_native.dylib"
  : "libspool_native.so";
const from = new URL(`target/${profile}/${lib}`, root);
const to = new URL("spool_native.node", root);
// Copy to a temporary name and rename: a process that has the old library mapped keeps it.
const tmp = new URL(`spool_native.node.tmp-${Deno.pid}`, root);
await Deno.copyFile(from, tmp);
await Deno.rename(tmp, to);
if (!quiet) console.error(`spool: built ${fileURLToPath(to)}`);
