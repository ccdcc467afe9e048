/**
 * The command line of the gate scripts: `deno run ... scripts/check_<gate>.ts [root]`.
 *
 * @module
 */

/** The root folder named by the first argument that is not an option, or the current folder. */
export function rootArgument(args: readonly string[]): string {
  const root = args.find((a) => !a.startsWith("--")) ?? ".";
  return root.replace(/\/+$/, "") || "/";
}
