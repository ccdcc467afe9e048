import assert from "node:assert/strict";
import { AbortedError, InvalidArgumentError } from "../errors.ts";
import { lines } from "./lines.ts";
import { FileAccessError } from "./errors.ts";
import { collect, timerTracker, turns } from "../../tests/stream_helpers.ts";

async function tempFile(text: string | Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "spool-lines-" });
  if (typeof text === "string") await Deno.writeTextFile(path, text);
  else await Deno.writeFile(path, text);
  return path;
}

Deno.test("lines handles \\n, \\r\\n, blank lines and a last line without newline", async () => {
  const path = await tempFile("a\r\nb\n\nc\r\nlast");
  try {
    assert.deepEqual(await collect(lines(path)), ["a", "b", "", "c", "last"]);
    assert.deepEqual(await collect(lines(path, { chunkSize: 1 })), ["a", "b", "", "c", "last"]);
  } finally {
    await Deno.remove(path);
  }
  const empty = await tempFile("");
  const endsWithNewline = await tempFile("x\n");
  try {
    assert.deepEqual(await collect(lines(empty)), []);
    assert.deepEqual(await collect(lines(endsWithNewline)), ["x"]);
  } finally {
    await Deno.remove(empty);
    await Deno.remove(endsWithNewline);
  }
});

Deno.test("lines streams in chunks: multi-byte characters split across reads stay whole", async () => {
  const text = Array.from({ length: 200 }, (_, i) => `ligne ${i} — été ✓ 🎉`).join("\n") + "\n";
  const path = await tempFile(text);
  try {
    for (const chunkSize of [1, 3, 7, 64]) {
      const got = await collect(lines(path, { chunkSize }));
      assert.equal(got.length, 200);
      assert.equal(got[199], "ligne 199 — été ✓ 🎉");
    }
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("lines decodes other encodings", async () => {
  const bytes = new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a, 0x6f, 0x6b]); // "café\nok" latin1
  const path = await tempFile(bytes);
  try {
    assert.deepEqual(await collect(lines(path, { encoding: "latin1" })), ["café", "ok"]);
  } finally {
    await Deno.remove(path);
  }
});

// Deno 2.9's op and resource sanitizers are off unless asked for (flag or option): ask here.
Deno.test({
  name: "lines: early break closes the file",
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    const path = await tempFile("1\n2\n3\n");
    try {
      for await (const line of lines(path)) {
        assert.equal(line, "1");
        break;
      }
      // the resource sanitizer fails this test if the file stayed open
    } finally {
      await Deno.remove(path);
    }
  },
});

Deno.test("lines follow: yields appended lines as they are completed, stops on abort", async () => {
  using timers = timerTracker();
  const path = await tempFile("first\n");
  const ctl = new AbortController();
  try {
    const it = lines(path, { follow: true, signal: ctl.signal, pollMs: 5 });
    assert.deepEqual(await it.next(), { done: false, value: "first" });
    const writer = await Deno.open(path, { append: true });
    try {
      const enc = new TextEncoder();
      await writer.write(enc.encode("second\nthi"));
      assert.deepEqual(await it.next(), { done: false, value: "second" });
      const third = it.next(); // waits: "thi" has no newline yet
      await writer.write(enc.encode("rd\r\n"));
      assert.deepEqual(await third, { done: false, value: "third" });
    } finally {
      writer.close();
    }
    const waiting = it.next(); // nothing more: follows until aborted
    ctl.abort();
    await assert.rejects(waiting, AbortedError);
    assert.equal((await it.next()).done, true);
    assert.equal(timers.live, 0, "the poll timer was cleared");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("lines follow: abort during the poll wait clears the timer at once", async () => {
  using timers = timerTracker();
  const path = await tempFile("only\n");
  const ctl = new AbortController();
  try {
    const it = lines(path, { follow: true, signal: ctl.signal, pollMs: 60_000 });
    assert.equal((await it.next()).value, "only");
    const waiting = it.next();
    await turns(5); // now sleeping in the 60 s poll wait
    assert.equal(timers.live, 1);
    ctl.abort();
    await assert.rejects(waiting, AbortedError);
    assert.equal(timers.live, 0);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("lines follow: abort while a read is pending starts no poll timer", async () => {
  using timers = timerTracker();
  const path = await tempFile("only\n");
  const ctl = new AbortController();
  try {
    const it = lines(path, { follow: true, signal: ctl.signal, pollMs: 5 });
    assert.equal((await it.next()).value, "only");
    const before = timers.started;
    const waiting = it.next(); // runs to the pending read of the end of the file
    ctl.abort(); // the read then finds nothing: the generator must not sleep
    await assert.rejects(waiting, AbortedError);
    assert.equal(timers.started, before, "no poll timer after the abort");
    assert.equal(timers.live, 0);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("lines follow: consumer break stops following and closes the file", async () => {
  using timers = timerTracker();
  const path = await tempFile("a\nb\n");
  try {
    const got: string[] = [];
    for await (const line of lines(path, { follow: true, pollMs: 5 })) {
      got.push(line);
      if (got.length === 2) break;
    }
    assert.deepEqual(got, ["a", "b"]);
    assert.equal(timers.live, 0);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("lines follow: a truncated file is read again from the start", async () => {
  const path = await tempFile("old line 1\nold line 2\n");
  try {
    const it = lines(path, { follow: true, pollMs: 5 });
    assert.equal((await it.next()).value, "old line 1");
    assert.equal((await it.next()).value, "old line 2");
    const next = it.next();
    await Deno.writeTextFile(path, "new\n"); // truncates
    assert.deepEqual(await next, { done: false, value: "new" });
    await it.return();
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("lines rejects bad arguments and reports a missing file", async () => {
  assert.throws(() => lines(5 as never), InvalidArgumentError);
  assert.throws(() => lines("x", { encoding: "no-such-encoding" }), InvalidArgumentError);
  assert.throws(() => lines("x", { follow: "yes" as never }), InvalidArgumentError);
  assert.throws(() => lines("x", { pollMs: 0 }), InvalidArgumentError);
  await assert.rejects(collect(lines("/nonexistent/spool/file.txt")), FileAccessError);
});

Deno.test("lines: a missing file is a FileAccessError naming the path, with the cause", async () => {
  const path = "/nonexistent/spool/file.txt";
  await assert.rejects(collect(lines(path)), (e: unknown) => {
    assert.ok(e instanceof FileAccessError);
    assert.equal(e.path, path);
    assert.match(e.message, /^Cannot read lines: the file does not exist, received ".*file\.txt"$/);
    assert.ok(e.cause instanceof Deno.errors.NotFound);
    return true;
  });
  const url = new URL("file:///nonexistent/spool/other.txt");
  await assert.rejects(collect(lines(url)), (e: unknown) => {
    assert.ok(e instanceof FileAccessError);
    assert.equal(e.path, url.href);
    return true;
  });
});

Deno.test("lines: a directory is a FileAccessError (the handle is closed)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-lines-dir-" });
  try {
    await assert.rejects(collect(lines(dir)), (e: unknown) => {
      assert.ok(e instanceof FileAccessError);
      assert.equal(e.path, dir);
      assert.match(e.message, /directory/);
      return true;
    });
    await assert.rejects(collect(lines(dir, { follow: true })), FileAccessError);
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("lines: a file Deno may not read is a FileAccessError (permission denied)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spool-lines-perm-" });
  const path = `${dir}/secret.txt`;
  await Deno.writeTextFile(path, "a\n");
  const allowed = await Deno.makeTempDir({ prefix: "spool-lines-allowed-" });
  try {
    const module = new URL("./lines.ts", import.meta.url).href;
    const code = `import { lines } from ${JSON.stringify(module)};
      try { for await (const _ of lines(${JSON.stringify(path)})) {} console.log("read"); }
      catch (e) { console.log(JSON.stringify({ name: e.name, path: e.path, message: e.message, cause: e.cause?.name })); }`;
    const script = `${allowed}/child.ts`;
    await Deno.writeTextFile(script, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-lock", `--allow-read=${allowed}`, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    const got = JSON.parse(text.split("\n").at(-1)!);
    assert.equal(got.name, "FileAccessError", text + new TextDecoder().decode(out.stderr));
    assert.equal(got.path, path);
    assert.match(got.message, /permission denied/);
    assert.equal(got.cause, "NotCapable");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(allowed, { recursive: true });
  }
});

Deno.test("lines: unknown options and wrong types are refused, naming them", () => {
  assert.throws(
    () => lines("x", { folow: true } as never),
    InvalidArgumentError,
    'unknown option "folow" (known: follow, signal, encoding, pollMs, chunkSize)',
  );
  assert.throws(() => lines("x", { encoding: 8 as never }), InvalidArgumentError, "encoding");
  assert.throws(() => lines("x", { chunkSize: 0 }), InvalidArgumentError, "chunkSize");
  assert.throws(() => lines("x", null as never), InvalidArgumentError, "options must be an object");
});
