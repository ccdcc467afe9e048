// Memory is released: 40 append/take cycles of 64 MiB (2.5 GiB in total) keep the peak RSS of a
// child process far below the total, through the native external buffers' finalizers.
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { activeImplementation } from "../src/native/load.ts";

const script = fileURLToPath(new URL("./native/rss_loop.ts", import.meta.url));

async function peak(impl: string, gc: "gc" | "nogc"): Promise<number> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script, impl, "40", gc],
    env: { SPOOL_NATIVE_POOL_MB: "128" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, out + new TextDecoder().decode(stderr));
  const result = JSON.parse(out.trim().split("\n").pop()!) as { peakMiB: number; checksum: number };
  assert.equal(result.checksum, 40, "every take had the right last value");
  return result.peakMiB;
}

Deno.test({
  name: "memory: native FrameBuffer takes are freed after GC (bounded RSS over 2.5 GiB)",
  ignore: activeImplementation() !== "native",
  async fn() {
    // With a GC per cycle: one 64 MiB column being built, one taken, the 128 MiB page pool.
    const withGc = await peak("native", "gc");
    assert.ok(withGc < 450, `peak RSS ${withGc} MiB with gc()`);
    // Left to V8's own heuristics (the engine is told about the external bytes).
    const auto = await peak("native", "nogc");
    assert.ok(auto < 1280, `peak RSS ${auto} MiB without gc()`);
  },
});

Deno.test("memory: TS FrameBuffer takes are freed (bounded RSS over 2.5 GiB)", async () => {
  const auto = await peak("ts", "nogc");
  assert.ok(auto < 1280, `peak RSS ${auto} MiB`);
});

Deno.test({
  name: "memory: columns taken in a Worker and freed never drive another env's accounting negative",
  ignore: activeImplementation() !== "native",
  async fn() {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        fileURLToPath(new URL("./native/cross_env.ts", import.meta.url)),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 0, out);
    assert.match(out, /survived/);
  },
});

Deno.test({
  name:
    "memory: test modules run one after another (new isolates on reused threads) taking, recycling and dropping columns with forced GC never abort on V8's external-memory check",
  ignore: activeImplementation() !== "native",
  async fn() {
    // The addon kept the freed-bytes account per thread: `deno test` runs each module in a new
    // isolate on a pool of threads, so bytes freed in one isolate were credited to the next one
    // on that thread, whose total went below zero ("Check failed: total_before >= -delta").
    const dir = await Deno.makeTempDir({ prefix: "spool_native_isolates_" });
    try {
      const churn = JSON.stringify(new URL("./native/churn.ts", import.meta.url).href);
      const modules = 16;
      for (let i = 0; i < modules; i++) {
        // Alternately 16 MiB columns (some still alive when the isolate goes away) and small ones.
        const [mib, cycles] = i % 2 === 0 ? [16, 6] : [0, 60];
        await Deno.writeTextFile(
          `${dir}/m${String(i).padStart(2, "0")}_test.ts`,
          `import { churn } from ${churn};\n` +
            `Deno.test("churn ${i}", () => churn(${mib}, ${cycles}));\n`,
        );
      }
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--v8-flags=--expose-gc", dir],
        env: { NO_COLOR: "1", SPOOL_NATIVE: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.doesNotMatch(out, /total_before|Fatal error/);
      assert.equal(code, 0, out);
      assert.match(out, new RegExp(`ok \\| ${modules} passed`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "memory: the addon's reserve() beyond what can be allocated throws, never aborts",
  ignore: activeImplementation() !== "native",
  async fn() {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fileURLToPath(new URL("./native/raw_reserve.ts", import.meta.url))],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, out + new TextDecoder().decode(stderr));
    const result = JSON.parse(out.trim().split("\n").pop()!) as {
      thrown: { rows: number; code?: string; message: string }[];
      after: number;
    };
    assert.equal(result.thrown.length, 3);
    for (const t of result.thrown) {
      assert.equal(t.code, "GenericFailure", t.message);
      assert.match(
        t.message,
        /^Cannot reserve rows in a FrameBuffer: out of memory for \d+ more bytes in column "x", received \d/,
      );
    }
    assert.equal(result.after, 1.5, "the buffer still works after a failed reservation");
  },
});
