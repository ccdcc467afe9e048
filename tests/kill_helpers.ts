/**
 * Shared by the crash tests: let a child run for `delayMs`, then SIGKILL it unless it has exited by
 * itself. Resolves `"killed"` or `"exit"`; the timer is always cleared (sanitizers stay on).
 */
export async function killAfter(
  child: Deno.ChildProcess,
  delayMs: number,
): Promise<"killed" | "exit"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fired = new Promise<"timer">((r) => (timer = setTimeout(() => r("timer"), delayMs)));
  const result = await Promise.race([child.status.then(() => "exit" as const), fired]);
  clearTimeout(timer);
  if (result === "exit") return "exit";
  try {
    child.kill("SIGKILL");
  } catch {
    // exited meanwhile
  }
  return "killed";
}
