/**
 * Read a function's parameter names from its source text (`Function.prototype.toString`).
 *
 * Handles `function` declarations and expressions, arrows (with or without parentheses),
 * `async`, generators, methods, default values (with nested brackets, strings, templates and
 * regular-expression-free expressions), comments and rest parameters. Destructured parameters
 * have no name (`undefined`). Native and bound functions have no readable source: the result is
 * `undefined`.
 *
 * @module
 */

/** One parameter: its name (`undefined` when destructured) and whether it is a rest parameter. */
export interface ParamInfo {
  /** The parameter's name, `undefined` for a destructuring pattern. */
  name: string | undefined;
  /** `true` for `...rest`. */
  rest: boolean;
}

const IDENT = /^[A-Za-z_$\u00a0-\uffff][\w$\u00a0-\uffff]*$/;

/** Remove comments and skip strings, returning the text with comments replaced by spaces. */
function stripComments(src: string): string {
  let out = "";
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as string;
    const d = src[i + 1];
    if (c === "/" && d === "/") {
      while (i < src.length && src[i] !== "\n") i++;
      out += " ";
    } else if (c === "/" && d === "*") {
      i += 2;
      while (i < src.length && !(src[i] === "*" && src[i + 1] === "/")) i++;
      i++;
      out += " ";
    } else if (c === '"' || c === "'" || c === "`") {
      const start = i;
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === "\\") i++;
        i++;
      }
      out += src.slice(start, i + 1);
    } else {
      out += c;
    }
  }
  return out;
}

/** Split `text` at top-level commas (outside brackets and strings). */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"' || c === "'" || c === "`") {
      const start = i;
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\") i++;
        i++;
      }
      cur += text.slice(start, i + 1);
      continue;
    }
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    if (c === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  if (cur.trim() !== "") parts.push(cur);
  return parts;
}

/** Index of the `)` matching the `(` at `open`, skipping strings; -1 if none. */
function matchParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === "`") {
      const q = c;
      i++;
      while (i < text.length && text[i] !== q) {
        if (text[i] === "\\") i++;
        i++;
      }
      continue;
    }
    if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i;
  }
  return -1;
}

/** The parameters of `fn`, or `undefined` when its source cannot be read. */
export function parameterInfo(fn: (...args: never[]) => unknown): ParamInfo[] | undefined {
  let src: string;
  try {
    src = Function.prototype.toString.call(fn);
  } catch {
    return undefined;
  }
  if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) return undefined;
  const text = stripComments(src).trim();
  // Arrow without parentheses: `x => ...` or `async x => ...`.
  const bare = /^(?:async\s+)?([A-Za-z_$\u00a0-\uffff][\w$\u00a0-\uffff]*)\s*=>/.exec(text);
  if (bare && bare[1] !== "async") return [{ name: bare[1], rest: false }];
  const open = text.indexOf("(");
  if (open < 0) return undefined;
  if (/^class\b/.test(text)) return undefined;
  const close = matchParen(text, open);
  if (close < 0) return undefined;
  const list = text.slice(open + 1, close);
  const out: ParamInfo[] = [];
  for (const raw of splitTopLevel(list)) {
    let p = raw.trim();
    const rest = p.startsWith("...");
    if (rest) p = p.slice(3).trim();
    const eq = findTopLevelEquals(p);
    if (eq >= 0) p = p.slice(0, eq).trim();
    out.push({ name: IDENT.test(p) ? p : undefined, rest });
  }
  return out;
}

function findTopLevelEquals(p: string): number {
  let depth = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "=" && depth === 0 && p[i + 1] !== ">" && p[i + 1] !== "=") return i;
  }
  return -1;
}
