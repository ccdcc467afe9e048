/**
 * Functions of the example JSON pipeline (examples/pipeline.json):
 * `deno run -A src/pipeline/cli.ts run examples/pipeline.json`.
 *
 * @module
 */

/** The square of `x`. */
export const square = (x: number): number => x * x;

/** `x + y` (a chain entry's extra argument is `y`). */
export const add = (x: number, y: number): number => x + y;

/** Running total of the items (a stateful node: `state` is saved at every checkpoint). */
export function total(state: { sum: number; n: number }, x: number): { n: number; sum: number } {
  state.n++;
  state.sum += x;
  return { n: state.n, sum: state.sum };
}
