import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { progress } from "./progress.ts";
import { withLength } from "./sized.ts";
import { collect, endless, tracked } from "../../tests/stream_helpers.ts";

/** A fake clock advanced by the source: each item takes `step` ms. */
function clocked(n: number, step: number) {
  const clock = { t: 0 };
  async function* src() {
    for (let i = 0; i < n; i++) {
      clock.t += step;
      yield i;
    }
  }
  return { clock, now: () => clock.t, src };
}

Deno.test("progress (plain): items pass unchanged, lines at most once per interval, a final line", async () => {
  const { now, src } = clocked(1000, 10); // 1000 items, 10 ms each = 10 s
  const out: string[] = [];
  const items = await collect(
    progress(src(), {
      total: 1000,
      label: "rows",
      output: (t) => out.push(t),
      intervalMs: 2000,
      now,
    }),
  );
  assert.deepEqual(items, Array.from({ length: 1000 }, (_, i) => i));
  // 10 s of work, one line per 2 s at most: 5 periodic lines + the final line
  assert.equal(out.length, 6, out.join(""));
  assert.equal(out[0], "rows: 200/1000 (20.0%), 100 items/s, ETA 0:08\n");
  assert.ok(out.every((l) => l.endsWith("\n") && !l.includes("\r")));
  assert.equal(out.at(-1), "rows: done, 1000 items in 10.0s (100 items/s)\n");
});

Deno.test("progress (tty): an in-place bar with count/total, percent, rate and ETA", async () => {
  const { now, src } = clocked(100, 50); // 20 items/s
  const out: string[] = [];
  await collect(progress(src(), {
    total: 100,
    label: "load",
    output: (t) => out.push(t),
    tty: true,
    intervalMs: 1000,
    now,
    barWidth: 10,
  }));
  assert.ok(out.length >= 3);
  assert.ok(out.every((t) => t.startsWith("\r\x1b[2K")), "each render redraws the line");
  assert.equal(out[0], "\r\x1b[2Kload ░░░░░░░░░░ 0/100 0.0% 0/s ETA ?");
  assert.equal(out[1], "\r\x1b[2Kload ██░░░░░░░░ 20/100 20.0% 20/s ETA 0:04");
  const last = out.at(-1)!;
  assert.ok(last.includes("██████████ 100/100 100.0% 20/s ETA 0:00\n"), last);
  assert.ok(last.endsWith("load: done, 100 items in 5.0s (20 items/s)\n"), last);
});

Deno.test("progress takes its total from the source length and keeps length", async () => {
  const out: string[] = [];
  const p = progress(withLength(tracked(4)[0], 4), { output: (t) => out.push(t), intervalMs: 0 });
  assert.equal(p.length, 4);
  await collect(p);
  assert.ok(out[0]!.includes("1/4 (25.0%)"), out[0]);
  // without a total: count and rate only
  const out2: string[] = [];
  await collect(progress(tracked(3)[0], { output: (t) => out2.push(t), intervalMs: 0 }));
  assert.match(out2[0]!, /^progress: 1 items, .* items\/s, 0:00 elapsed\n$/);
});

Deno.test("progress: early break says stopped and returns the source; errors say failed", async () => {
  const [src, track] = endless();
  const out: string[] = [];
  for await (const x of progress(src, { output: (t) => out.push(t), label: "job" })) {
    if (x === 9) break;
  }
  assert.equal(track.returned, true);
  assert.match(out.at(-1)!, /^job: stopped after 10 items in /);
  const out2: string[] = [];
  const [bad] = tracked(5, { failAt: 3 });
  await assert.rejects(
    collect(progress(bad, { output: (t) => out2.push(t), label: "job" })),
    /boom/,
  );
  assert.match(out2.at(-1)!, /^job: failed after 3 items in /);
});

Deno.test("progress rejects bad options", () => {
  assert.throws(() => progress([1], { total: -1 }), InvalidArgumentError);
  assert.throws(() => progress([1], { output: "stderr" as never }), InvalidArgumentError);
  assert.throws(() => progress([1], { intervalMs: -5 }), InvalidArgumentError);
  assert.throws(() => progress([1], { label: 3 as never }), InvalidArgumentError);
  assert.throws(() => progress(7 as never), InvalidArgumentError);
});

Deno.test("progress: an output that throws ends the stage and returns the source", async () => {
  const [gen, track] = tracked(10);
  let calls = 0;
  const p = progress(gen, {
    intervalMs: 0,
    now: () => 0,
    output: () => {
      if (++calls === 2) throw new TypeError("terminal gone");
    },
  });
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const x of p) got.push(x);
  }, TypeError);
  assert.deepEqual(got, [0]);
  assert.equal(track.returned, true, "the source is returned");
  assert.deepEqual(await p.next(), { done: true, value: undefined });
});

Deno.test("progress: a clock that throws ends the stage and returns the source", async () => {
  const [gen, track] = tracked(10);
  let calls = 0;
  const p = progress(gen, {
    output: () => {},
    now: () => {
      if (++calls === 3) throw new RangeError("clock broke");
      return calls;
    },
  });
  await assert.rejects(collect(p), RangeError);
  assert.equal(track.returned, true, "the source is returned");
  assert.deepEqual(await p.next(), { done: true, value: undefined });
});
