/**
 * The `spool` command line, run as a subprocess (`deno run -A src/pipeline/cli.ts ...`) in a
 * temporary directory: Ctrl-C, completion, --fresh, paths with `#`, `graph` without pools,
 * Mermaid structure, `--flag value` and `--flag=value`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { withTempDir } from "./temp_dir.ts";

const CLI = fileURLToPath(new URL("../src/pipeline/cli.ts", import.meta.url));
const POOL_MOD = new URL("../src/pool/mod.ts", import.meta.url).href;
const decoder = new TextDecoder();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function spool(args: string[], cwd?: string): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Functions for the descriptions: `slow` waits a little per item so a signal lands mid-run. */
const FNS = `
export const square = (x) => x * x;
export async function slow(x) {
  await new Promise((r) => setTimeout(r, 2));
  return x * 3;
}
export function count(state, x) {
  state.n++;
  state.sum += x;
  return state.sum;
}
`;

const withDir = (fn: (dir: string) => void | Promise<void>, name = "spool-cli-") =>
  withTempDir(fn, name);

async function job(dir: string, description: unknown): Promise<string> {
  await Deno.writeTextFile(`${dir}/fns.js`, FNS);
  await Deno.writeTextFile(`${dir}/p.json`, JSON.stringify(description, null, 2));
  return `${dir}/p.json`;
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return out.sort();
}

const counting = (range: number, every = 20) => ({
  nodes: [
    { name: "n", source: true },
    { name: "slow", inputs: ["n"], fn: { module: "./fns.js", export: "slow" } },
    {
      name: "total",
      inputs: ["slow"],
      state: { n: 0, sum: 0 },
      fn: { module: "./fns.js", export: "count" },
    },
  ],
  sources: { n: { range } },
  sinks: { total: { files: "out" } },
  checkpoint: { store: "ckpt", every: { items: every } },
});

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test(`CLI: ${signal} mid-run says it stopped (not done), and a re-run resumes to the end`, async () => {
    await withDir(async (dir) => {
      const RANGE = 1500;
      const path = await job(dir, counting(RANGE));
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, "run", path],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const stdoutDone = (async () => {
        while (!(await stdout.read()).done);
      })();
      let stderr = "";
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let signalled = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        stderr += value;
        // Interrupt once a checkpoint is written (the run is under way, far from its end).
        if (!signalled && /spool: checkpoint \d+/.test(stderr)) {
          signalled = true;
          child.kill(signal);
        }
      }
      await stdoutDone;
      const status = await child.status;
      assert.ok(signalled, stderr);
      assert.match(stderr, new RegExp(`spool: ${signal}: stopping`));
      assert.match(
        stderr,
        new RegExp(`spool: stopped by ${signal} at checkpoint \\d+ .*run the same command again`),
      );
      assert.doesNotMatch(stderr, /spool: done/);
      assert.equal(status.code, code, stderr);
      const before = (await names(`${dir}/out`)).length;
      assert.ok(before < RANGE, `${before} outputs: the run was stopped before its end`);

      const again = await spool(["run", path]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /spool: resumed from checkpoint \d+/);
      assert.match(again.stderr, /spool: done/);
      const outs = await names(`${dir}/out`);
      assert.equal(outs.length, RANGE);
      // Exactly-once state: the last output is the sum over every item, each counted once.
      const last = await Deno.readTextFile(`${dir}/out/${outs.at(-1)}`);
      assert.equal(Number(last), 3 * (RANGE * (RANGE - 1)) / 2);
    });
  });
}

Deno.test("CLI: re-running a finished job says it is complete and writes nothing", async () => {
  await withDir(async (dir) => {
    const path = await job(dir, counting(30, 10));
    const first = await spool(["run", path]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /spool: done/);
    const snapshots = await names(`${dir}/ckpt`);
    const outputs = await names(`${dir}/out`);
    const mtimes = await Promise.all(
      outputs.map(async (f) => (await Deno.stat(`${dir}/out/${f}`)).mtime?.getTime()),
    );

    const again = await spool(["run", path]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /spool: the job is complete/);
    assert.match(again.stderr, /--fresh/);
    assert.doesNotMatch(again.stderr, /resumed/);
    assert.deepEqual(await names(`${dir}/ckpt`), snapshots);
    assert.deepEqual(await names(`${dir}/out`), outputs);
    assert.deepEqual(
      await Promise.all(
        outputs.map(async (f) => (await Deno.stat(`${dir}/out/${f}`)).mtime?.getTime()),
      ),
      mtimes,
    );
  });
});

Deno.test("CLI: --fresh starts over (checkpoints removed, appended outputs restarted)", async () => {
  await withDir(async (dir) => {
    const d = counting(25, 10);
    d.sinks = { total: { ndjson: "total.ndjson" } } as never;
    const path = await job(dir, d);
    assert.equal((await spool(["run", path])).code, 0);
    const lines = async () =>
      (await Deno.readTextFile(`${dir}/total.ndjson`)).trimEnd().split("\n");
    assert.equal((await lines()).length, 25);
    const old = (await names(`${dir}/ckpt`)).filter((n) => n.endsWith(".snapshot"));

    for (const args of [["run", "--fresh", path], ["run", path, "--fresh"]]) {
      const r = await spool(args);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        r.stderr.includes(`spool: --fresh: removed ${old.length} checkpoint(s) from ${dir}/ckpt`),
        r.stderr,
      );
      assert.match(r.stderr, /spool: started from the beginning/);
      assert.doesNotMatch(r.stderr, /resumed|complete/);
      assert.match(r.stderr, /spool: done/);
      const l = await lines();
      assert.equal(l.length, 25);
      assert.equal(l.at(-1), String(3 * (25 * 24) / 2));
      const now = (await names(`${dir}/ckpt`)).filter((n) => n.endsWith(".snapshot"));
      assert.deepEqual(now, old, "as many checkpoints, numbered from 1 again");
    }
  });
});

Deno.test("CLI: a description path containing # resolves its modules beside it", async () => {
  await withDir(async (root) => {
    const dir = `${root}/job #1 %41`;
    await Deno.mkdir(dir);
    const path = await job(dir, {
      nodes: [
        { name: "n", source: true },
        { name: "sq", inputs: ["n"], fn: { module: "./fns.js", export: "square" } },
      ],
      sources: { n: { range: 5 } },
      sinks: { sq: { ndjson: "out #2.ndjson" } },
    });
    const r = await spool(["run", path]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(`${dir}/out #2.ndjson`), "0\n1\n4\n9\n16\n");
    // Relative to the current directory too.
    const rel = await spool(["graph", "job #1 %41/p.json"], root);
    assert.equal(rel.code, 0, rel.stderr);
    assert.match(rel.stdout, /n1\["sq"\]/);
  });
});

/** The structure of a flowchart as spool writes it; fails on any other line. */
function mermaidLines(text: string): { nodes: Map<string, string>; edges: [string, string][] } {
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.shift(), "flowchart LR");
  const nodes = new Map<string, string>();
  const edges: [string, string][] = [];
  for (const line of lines) {
    const n = /^ {2}(n\d+)\["([^"]*)"\]$/.exec(line);
    const e = /^ {2}(n\d+) -->(?:\|\d+\|)? (n\d+)$/.exec(line);
    if (n) nodes.set(n[1]!, n[2]!);
    else if (e) edges.push([nodes.get(e[1]!)!, nodes.get(e[2]!)!]);
    else assert.fail(`unexpected line ${JSON.stringify(line)}`);
  }
  return { nodes, edges };
}

Deno.test("CLI: graph starts no pool and imports no module; a node named end stays a label", async () => {
  await withDir(async (dir) => {
    const marker = `${dir}/pool-started`;
    await Deno.writeTextFile(
      `${dir}/worker.ts`,
      `import { defineWorker } from ${JSON.stringify(POOL_MOD)};
export default defineWorker({
  init: () => { Deno.writeTextFileSync(${JSON.stringify(marker)}, "started"); return {}; },
  process: (_s, x) => x,
});
`,
    );
    const path = await job(dir, {
      nodes: [
        { name: "start", source: true },
        { name: "end", inputs: ["start"], pool: "p" },
        { name: "graph", inputs: ["end"], fn: { module: "./fns.js", export: "square" } },
        { name: "subgraph", inputs: ["end", "graph"], fn: { module: "./missing.js" } },
      ],
      pools: { p: { module: "./worker.ts", size: 1 } },
      sources: { start: { range: 3 } },
    });
    const r = await spool(["graph", path]);
    assert.equal(r.code, 0, r.stderr);
    const { nodes, edges } = mermaidLines(r.stdout);
    assert.deepEqual([...nodes.values()], ["start", "end", "graph", "subgraph"]);
    assert.deepEqual(edges, [["start", "end"], ["end", "graph"], ["end", "subgraph"], [
      "graph",
      "subgraph",
    ]]);
    const dot = await spool(["graph", path, "--dot"]);
    assert.equal(dot.code, 0, dot.stderr);
    assert.match(dot.stdout, /^digraph spool \{/);
    assert.match(dot.stdout, /n1 \[label="end"\];/);
    assert.equal((await names(dir)).includes("pool-started"), false, "graph started the pool");
    // The same description run does start it (the marker is a real witness).
    await Deno.remove(`${dir}/p.json`);
    const runnable = await job(dir, {
      nodes: [{ name: "start", source: true }, { name: "end", inputs: ["start"], pool: "p" }],
      pools: { p: { module: "./worker.ts", size: 1 } },
      sources: { start: { range: 3 } },
    });
    const ran = await spool(["run", runnable]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(await Deno.readTextFile(marker), "started");
  });
});

Deno.test("CLI: snapshots prune takes --keep N and --keep=N", async () => {
  await withDir(async (dir) => {
    const path = await job(dir, counting(30, 5));
    assert.equal((await spool(["run", path])).code, 0);
    const count = async () =>
      (await names(`${dir}/ckpt`)).filter((n) => n.endsWith(".snapshot")).length;
    assert.ok((await count()) >= 2);
    const a = await spool(["snapshots", "prune", `${dir}/ckpt`, "--keep", "2"]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(await count(), 2);
    const b = await spool(["snapshots", "prune", `${dir}/ckpt`, "--keep=1"]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(await count(), 1);
  });
});

Deno.test("CLI: snapshots prune with a --keep that is not an integer exits 2", async () => {
  await withDir(async (dir) => {
    const bad = await spool(["snapshots", "prune", `${dir}/ckpt`, "--keep", "many"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--keep must be an integer >= 0, received "many"/);
  });
});

Deno.test("CLI: an unknown flag exits 2 naming it, with the usage", async () => {
  await withDir(async (dir) => {
    const path = await job(dir, counting(30, 5));
    const unknown = await spool(["run", path, "--frsh"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--frsh/);
    assert.match(unknown.stderr, /usage: spool/);
  });
});

Deno.test("CLI: a bad description exits 2 listing every problem, and nothing is run", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      JSON.stringify({
        nodes: [{ name: "n", source: true }, { name: "f", inputs: ["n"], fn: 1 }],
        sinks: { f: { file: "out" } },
        checkpoint: { store: "c2", every: { msec: 500 } },
      }),
    );
    const invalid = await spool(["run", `${dir}/bad.json`]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /3 problems/);
    assert.match(invalid.stderr, /nodes\.f\.fn: must be a function/);
    assert.match(
      invalid.stderr,
      /sinks\.f: unknown key "file" \(known: files, extension, ndjson, stdout, discard\)/,
    );
    assert.match(invalid.stderr, /checkpoint\.every: unknown key "msec" \(known: items, ms\)/);
    assert.equal((await names(dir)).includes("c2"), false, "nothing was run");
  });
});

Deno.test("CLI: schema prints the description schema", async () => {
  const schema = await spool(["schema"]);
  assert.equal(schema.code, 0);
  assert.equal(JSON.parse(schema.stdout).title, "spool pipeline description");
});

Deno.test("CLI: after a resume the dead-letter line gives this run's count and the total", async () => {
  await withDir(async (dir) => {
    const go = `${dir}/go`;
    // `odd` dead-letters every item ending in 3; `gate` (slow, so checkpoints commit) fails the
    // first run at item 85 (the file `go` lets the second run through).
    await Deno.writeTextFile(
      `${dir}/dead.js`,
      `export function odd(x) { if (x % 10 === 3) throw new Error("bad " + x); return x; }
export async function gate(x) {
  await new Promise((r) => setTimeout(r, 2));
  let open = true;
  try { Deno.statSync(${JSON.stringify(go)}); } catch { open = false; }
  if (x === 85 && !open) throw new Error("stop here");
  return x;
}
`,
    );
    const path = await job(dir, {
      nodes: [
        { name: "n", source: true },
        {
          name: "odd",
          inputs: ["n"],
          errors: "dead-letter",
          fn: { module: "./dead.js", export: "odd" },
        },
        { name: "gate", inputs: ["odd"], fn: { module: "./dead.js", export: "gate" } },
      ],
      sources: { n: { range: 100 } },
      sinks: { gate: { files: "out" } },
      checkpoint: { store: "ckpt", every: { items: 10 } },
    });
    const first = await spool(["run", path]);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /spool: checkpoint \d+/);
    await Deno.writeTextFile(go, "");
    const again = await spool(["run", path]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /spool: resumed from checkpoint \d+/);
    const m = again.stderr.match(
      /spool: (\d+) item\(s\) went to the dead-letter output in this run \((\d+) in all runs\)/,
    );
    assert.ok(m, again.stderr);
    // Items 3, 13, ..., 93: ten in all; the resumed run re-met only those after its checkpoint.
    assert.equal(Number(m[2]), 10);
    assert.ok(Number(m[1]) < 10, again.stderr);
  });
});
