// The loader's decisions, each in a child process (the choice is made once per process).
import assert from "node:assert/strict";

const probe = new URL("./testdata/probe.ts", import.meta.url).pathname;

async function run(
  permissions: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, probe],
    env: { ...env, NO_COLOR: "1" },
    cwd: new URL("../../", import.meta.url).pathname, // the repository root
    clearEnv: false,
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await child.output();
  return { code, out: new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr) };
}

const built = (() => {
  try {
    return Deno.statSync(new URL("../../native/spool_native.node", import.meta.url)).isFile;
  } catch {
    return false;
  }
})();

Deno.test("loader: SPOOL_NATIVE=0 forces TypeScript", async () => {
  const { code, out } = await run(["-A"], { SPOOL_NATIVE: "0" });
  assert.equal(code, 0, out);
  assert.match(out, /implementation=ts reason=SPOOL_NATIVE=0 forces TypeScript/);
  assert.match(out, /frameBuffer\(auto\)=ts/);
  assert.match(out, /frameBuffer\(native\)=NativeLoadError/);
});

Deno.test({
  name: "loader: picks native when the library is there",
  ignore: !built,
  async fn() {
    const { code, out } = await run(["-A"], { SPOOL_NATIVE: "" });
    assert.equal(code, 0, out);
    assert.match(out, /implementation=native/);
    assert.match(out, /frameBuffer\(auto\)=native/);
    assert.match(out, /frameBuffer\(native\)=native/);
  },
});

Deno.test("loader: without --allow-ffi it falls back to TypeScript", async () => {
  const { code, out } = await run(["--allow-read", "--allow-env"], { SPOOL_NATIVE: "" });
  assert.equal(code, 0, out);
  assert.match(out, /implementation=ts reason=the ffi permission is not granted/);
});

Deno.test("loader: SPOOL_NATIVE=1 turns a load failure into NativeLoadError", async () => {
  const { code, out } = await run(["-A"], {
    SPOOL_NATIVE: "1",
    SPOOL_NATIVE_PATH: "/nonexistent/spool_native.node",
  });
  assert.equal(code, 0, out);
  assert.match(out, /implementation=ts/);
  assert.match(
    out,
    /frameBuffer\(auto\)=NativeLoadError: Cannot load the spool native module: SPOOL_NATIVE=1 requires it but \/nonexistent\/spool_native.node does not exist/,
  );
});

Deno.test("loader: SPOOL_NATIVE=1 without --allow-ffi is an error too", async () => {
  const { code, out } = await run(["--allow-read", "--allow-env"], { SPOOL_NATIVE: "1" });
  assert.equal(code, 0, out);
  assert.match(out, /frameBuffer\(auto\)=NativeLoadError: .*ffi permission/);
});

Deno.test({
  name: "loader: SPOOL_NATIVE_PATH may be relative to the working directory",
  ignore: !built,
  async fn() {
    const { code, out } = await run(["-A"], {
      SPOOL_NATIVE: "1",
      SPOOL_NATIVE_PATH: "native/spool_native.node",
    });
    assert.equal(code, 0, out);
    assert.match(out, /implementation=native/);
  },
});

Deno.test("loader: a file that is not an addon falls back with the reason", async () => {
  const bogus = await Deno.makeTempFile({ suffix: ".node" });
  try {
    await Deno.writeTextFile(bogus, "not a shared library");
    const { code, out } = await run(["-A"], { SPOOL_NATIVE: "", SPOOL_NATIVE_PATH: bogus });
    assert.equal(code, 0, out);
    assert.match(out, /implementation=ts reason=.* failed to load/);
  } finally {
    await Deno.remove(bogus);
  }
});
