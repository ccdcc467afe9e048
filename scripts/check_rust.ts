/**
 * The Rust gates for the native crate (`native/`): `cargo fmt --check` and
 * `cargo clippy --release --all-targets -- -D warnings`. Both run, and the script exits 1 when
 * either fails or when cargo, rustfmt or clippy is missing (with the command that installs it).
 *
 * Usage: `deno run --allow-read --allow-env --allow-run scripts/check_rust.ts [root]`. A root
 * without `native/Cargo.toml` has no crate: the script says so and exits 0.
 *
 * @module
 */

import { rootArgument } from "./_args.ts";

/** One gate: what it runs and how to install what it needs when that is missing. */
interface RustGate {
  readonly name: string;
  readonly args: readonly string[];
  /** `cargo <probe> --version` tells whether the tool is installed. */
  readonly probe: string;
  readonly install: string;
}

/** The gates, in the order they run. */
const GATES: readonly RustGate[] = [
  {
    name: "cargo fmt --check",
    args: ["fmt", "--check"],
    probe: "fmt",
    install: "rustup component add rustfmt",
  },
  {
    name: "cargo clippy --release --all-targets -- -D warnings",
    args: ["clippy", "--release", "--all-targets", "--quiet", "--", "-D", "warnings"],
    probe: "clippy",
    install: "rustup component add clippy",
  },
];

/** The cargo on PATH, else the one rustup puts in `~/.cargo/bin`, else undefined. */
function findCargo(): string | undefined {
  const home = Deno.env.get("HOME");
  for (const candidate of ["cargo", ...(home ? [`${home}/.cargo/bin/cargo`] : [])]) {
    if (succeeds(candidate, ["--version"])) return candidate;
  }
  return undefined;
}

function succeeds(command: string, args: readonly string[], cwd?: string): boolean {
  try {
    return new Deno.Command(command, { args: [...args], cwd, stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false; // not found
  }
}

/** Run the Rust gates on `<root>/native/`; the names of the gates that failed. */
export async function checkRust(root: string): Promise<string[]> {
  const crate = `${root}/native`;
  try {
    await Deno.stat(`${crate}/Cargo.toml`);
  } catch {
    console.log(`rust: no crate at ${crate}/Cargo.toml, nothing to check`);
    return [];
  }
  const cargo = findCargo();
  if (!cargo) {
    console.log(
      "rust: Cannot run the Rust gates: cargo is not installed, received PATH=" +
        `${Deno.env.get("PATH") ?? ""} (install Rust with rustup, then ` +
        "`rustup component add clippy rustfmt`)",
    );
    return GATES.map((g) => g.name);
  }
  const failed: string[] = [];
  for (const gate of GATES) {
    if (!succeeds(cargo, [gate.probe, "--version"], crate)) {
      console.log(`rust: Cannot run ${gate.name}: it is not installed (run \`${gate.install}\`)`);
      failed.push(gate.name);
      continue;
    }
    console.log(`rust: ${gate.name}`);
    const { success } = await new Deno.Command(cargo, {
      args: [...gate.args],
      cwd: crate,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!success) {
      console.log(`rust: ${gate.name} failed (see above)`);
      failed.push(gate.name);
    }
  }
  return failed;
}

if (import.meta.main) {
  const failed = await checkRust(rootArgument(Deno.args));
  if (failed.length > 0) {
    console.log(`rust: failed: ${failed.join("; ")}`);
    Deno.exit(1);
  }
  console.log("rust: ok (cargo fmt --check, cargo clippy -D warnings)");
}
