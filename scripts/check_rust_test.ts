import assert from "node:assert/strict";
import { runScript, withTree } from "./_tree.ts";

const PERMISSIONS = ["--allow-read", "--allow-env", "--allow-run"];

const MANIFEST = [
  "[package]",
  'name = "fixture"',
  'version = "0.1.0"',
  'edition = "2021"',
  "",
  "[lib]",
  'path = "src/lib.rs"',
  "",
].join("\n");
const TIDY = "pub fn same(x: bool) -> bool {\n    x\n}\n";
// rustfmt splits the one-line body; clippy denies `== true` (bool_comparison) and the
// needless `if` (needless_bool)
const UNTIDY = "pub fn same(x: bool) -> bool { if x == true { true } else { false } }\n";

function hasCargo(): boolean {
  try {
    return new Deno.Command("cargo", {
      args: ["clippy", "--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** A fake `cargo` on PATH: answers `--version` and `fmt`, and `clippy` as told. */
async function fakeCargo(root: string, clippy: "missing" | "fails"): Promise<string> {
  const bin = `${root}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const clippyExit = clippy === "missing" ? 1 : 101;
  await Deno.writeTextFile(
    `${bin}/cargo`,
    [
      "#!/bin/sh",
      'case "$1" in',
      "  --version|fmt) exit 0 ;;",
      `  clippy) [ "$2" = --version ] && exit ${
        clippy === "missing" ? 1 : 0
      }; exit ${clippyExit} ;;`,
      "esac",
      "exit 2",
      "",
    ].join("\n"),
  );
  await Deno.chmod(`${bin}/cargo`, 0o755);
  return bin;
}

Deno.test("a tree without a native crate has nothing to check", async () => {
  await withTree({ "src/errors.ts": "" }, async (root) => {
    const run = await runScript("./check_rust.ts", root, { permissions: PERMISSIONS });
    assert.equal(run.code, 0, run.lines.join("\n"));
    assert.match(run.lines[0]!, /^rust: no crate at .*native\/Cargo\.toml, nothing to check$/);
  });
});

Deno.test("without cargo the Rust gates fail with how to install it", async () => {
  await withTree({ "native/Cargo.toml": MANIFEST, "native/src/lib.rs": TIDY }, async (root) => {
    await Deno.mkdir(`${root}/empty`);
    const run = await runScript("./check_rust.ts", root, {
      permissions: PERMISSIONS,
      env: { PATH: `${root}/empty`, HOME: root },
    });
    assert.equal(run.code, 1, run.lines.join("\n"));
    assert.match(
      run.lines[0]!,
      /^rust: Cannot run the Rust gates: cargo is not installed, received/,
    );
    assert.match(run.lines[0]!, /rustup component add clippy rustfmt/);
  });
});

Deno.test("without clippy the clippy gate fails with the component to add", async () => {
  await withTree({ "native/Cargo.toml": MANIFEST, "native/src/lib.rs": TIDY }, async (root) => {
    const bin = await fakeCargo(root, "missing");
    const run = await runScript("./check_rust.ts", root, {
      permissions: PERMISSIONS,
      env: { PATH: bin, HOME: root },
    });
    assert.equal(run.code, 1, run.lines.join("\n"));
    assert.ok(run.lines.includes("rust: cargo fmt --check"), run.lines.join("\n"));
    assert.ok(
      run.lines.includes(
        "rust: Cannot run cargo clippy --release --all-targets -- -D warnings: it is not " +
          "installed (run `rustup component add clippy`)",
      ),
      run.lines.join("\n"),
    );
  });
});

Deno.test("a failing clippy fails the gate", async () => {
  await withTree({ "native/Cargo.toml": MANIFEST, "native/src/lib.rs": TIDY }, async (root) => {
    const bin = await fakeCargo(root, "fails");
    const run = await runScript("./check_rust.ts", root, {
      permissions: PERMISSIONS,
      env: { PATH: bin, HOME: root },
    });
    assert.equal(run.code, 1, run.lines.join("\n"));
    assert.ok(
      run.lines.includes("rust: failed: cargo clippy --release --all-targets -- -D warnings"),
      run.lines.join("\n"),
    );
  });
});

Deno.test({
  name: "real cargo: an untidy crate fails fmt and clippy, a tidy one passes both",
  ignore: !hasCargo(),
  fn: async () => {
    await withTree({ "native/Cargo.toml": MANIFEST, "native/src/lib.rs": UNTIDY }, async (root) => {
      const bad = await runScript("./check_rust.ts", root, { permissions: PERMISSIONS });
      assert.equal(bad.code, 1, bad.lines.join("\n"));
      assert.ok(
        bad.lines.includes(
          "rust: failed: cargo fmt --check; cargo clippy --release --all-targets -- -D warnings",
        ),
        bad.lines.join("\n"),
      );
      assert.ok(bad.lines.some((l) => l.includes("clippy::bool_comparison")), bad.lines.join("\n"));
      await Deno.writeTextFile(`${root}/native/src/lib.rs`, TIDY);
      const good = await runScript("./check_rust.ts", root, { permissions: PERMISSIONS });
      assert.equal(good.code, 0, good.lines.join("\n"));
      assert.equal(good.lines.at(-1), "rust: ok (cargo fmt --check, cargo clippy -D warnings)");
    });
  },
});
