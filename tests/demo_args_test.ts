/**
 * The demo's command line (`--flag value` and `--flag=value`) and its progress total (lines,
 * not lines + the end marker).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "../src/errors.ts";
import { parseDemoArgs } from "../examples/demo.ts";

const DEMO = fileURLToPath(new URL("../examples/demo.ts", import.meta.url));

Deno.test("demo arguments: --flag value and --flag=value read the same", () => {
  const spaced = parseDemoArgs([
    "--readings",
    "5000",
    "--files",
    "3",
    "--dir",
    "/tmp/x",
    "--part-mb",
    "0.5",
    "--save-every-ms",
    "100",
    "--workers",
    "1",
    "--fresh",
  ]);
  const joined = parseDemoArgs([
    "--readings=5000",
    "--files=3",
    "--dir=/tmp/x",
    "--part-mb=0.5",
    "--save-every-ms=100",
    "--workers=1",
    "--fresh",
  ]);
  assert.deepEqual(spaced, joined);
  assert.deepEqual(spaced, {
    dir: "/tmp/x",
    readings: 5000,
    files: 3,
    fresh: true,
    saveEveryMs: 100,
    partMb: 0.5,
    workers: 1,
  });
  assert.equal(parseDemoArgs([]).readings, 3_000_000);
});

Deno.test("demo arguments: unknown flags, missing and bad values are InvalidArgumentError", () => {
  const cases: [string[], RegExp][] = [
    [["--reading", "5"], /Cannot parse the demo's arguments: .*--reading/],
    [["--readings"], /Cannot parse the demo's arguments: .*--readings/],
    [["--readings", "many"], /--readings must be a positive integer, received "many"/],
    [["--readings=1.5"], /--readings must be a positive integer, received "1.5"/],
    [["--part-mb", "0"], /--part-mb must be a positive number, received "0"/],
    [["--workers="], /--workers must be a positive integer, received ""/],
    [["stray"], /Cannot parse the demo's arguments: .*stray/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseDemoArgs(args), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("demo: the progress total and count are the lines (3000 for 3000 lines)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-demo-args-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        DEMO,
        "--dir",
        dir,
        "--readings",
        "3000",
        "--files",
        "2",
        "--part-mb",
        "0.1",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(stderr, /readings: done, 3000 items/);
    assert.doesNotMatch(stderr, /3001/);
    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", DEMO, "--dir", dir, "--readings", "lots"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(bad.code, 2);
    assert.match(
      new TextDecoder().decode(bad.stderr),
      /--readings must be a positive integer[\s\S]*usage:/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
