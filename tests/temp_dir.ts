/** Test helper: run `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir(
  fn: (dir: string) => void | Promise<void>,
  prefix = "spool-test-",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
