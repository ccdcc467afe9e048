/**
 * `deno task check`: runs every `check:<gate>` task of `deno.json`, in the order written there,
 * one after the other. A failing gate does not stop the others, so one run shows every failure;
 * the script exits 1 when any failed and names them on its last line.
 *
 * Usage: `deno task check` (all gates) or `deno task check:<gate>` (one gate).
 *
 * @module
 */

const config = JSON.parse(await Deno.readTextFile("deno.json")) as {
  tasks: Record<string, unknown>;
};
const gates = Object.keys(config.tasks).filter((name) => name.startsWith("check:"));
const failed: string[] = [];
const started = performance.now();
for (const gate of gates) {
  console.log(`== ${gate}`);
  const gateStarted = performance.now();
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", gate],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  const seconds = ((performance.now() - gateStarted) / 1000).toFixed(1);
  console.log(`== ${gate}: ${success ? "ok" : "FAILED"} (${seconds} s)`);
  if (!success) failed.push(gate);
}
const total = `${gates.length} gates, ${((performance.now() - started) / 1000).toFixed(0)} s`;
if (failed.length > 0) {
  console.log(`check: FAILED ${failed.join(", ")} (${total})`);
  Deno.exit(1);
}
console.log(`check: ok (${total})`);
