// A fast synchronous pipeline checkpointed every N items, SIGKILLed at 90% of its input, resumes
// from a checkpoint near there (>= 80%), not from the start, and finishes exactly once: the
// resumed run delivers every sequence number from its checkpoint to the end, once, with the
// right values, and the final state equals an uninterrupted run's.
import assert from "node:assert/strict";

const CHILD = new URL("./fixtures/pipeline_fast_child.ts", import.meta.url).pathname;

async function child(store: string, items: number, every: number, killAt: number) {
  const { code, signal, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, store, String(items), String(every), String(killAt)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  return { code, signal, text, err: new TextDecoder().decode(stderr) };
}

// Sizes where 10% of the run is ~80 ms or more at full speed: a checkpoint commits in about its
// own I/O time, a few ms (fsync-bound), with outliers of ~50 ms on a loaded disk; see
// docs/pipeline.md ("Checkpoints under load").
for (const items of [10_000_000, 30_000_000]) {
  Deno.test(`pipeline killed at 90% of ${items} items resumes near there, exactly once`, async () => {
    const store = await Deno.makeTempDir({ prefix: "spool-kill90-" });
    try {
      const killAt = Math.floor(items * 0.9);
      const killed = await child(store, items, 1000, killAt);
      assert.equal(
        killed.signal,
        "SIGKILL",
        `the child was not killed: ${killed.text}${killed.err}`,
      );
      assert.equal(killed.text, "");

      const resumed = await child(store, items, 1000, -1);
      assert.equal(resumed.code, 0, resumed.err);
      const r = JSON.parse(resumed.text);
      assert.ok(r.resumed !== null, "the rerun started from 0: nothing was committed");
      const at = r.resumed.positions.s as number;
      assert.ok(at >= 0.8 * items && at <= killAt + 1, `resumed at ${at} of ${items}`);
      // The resumed run delivers sequence numbers from its checkpoint to the end, once each.
      assert.equal(r.first, at);
      assert.equal(r.count, items - at);
      assert.equal(r.bad, 0);
      // Exactly-once state: the sum of 2i over every item, as an uninterrupted run has it.
      assert.equal(r.sum, items * (items - 1));
    } finally {
      await Deno.remove(store, { recursive: true });
    }
  });
}
