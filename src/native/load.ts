/**
 * Loader of the Rust addon: finds `spool_native.node`, loads it through Deno's Node-API support
 * and tells which implementation is active.
 *
 * Order: `SPOOL_NATIVE_PATH` when set, else `native/spool_native.node` next to this source tree
 * (a `file:` URL only: a module imported from JSR or https has no addon beside it).
 *
 * - `SPOOL_NATIVE=0`: never load, use the TypeScript implementation.
 * - `SPOOL_NATIVE=1`: a load failure throws {@linkcode NativeLoadError}.
 * - unset: load when possible (permissions `--allow-ffi`, `--allow-read`, `--allow-env`),
 *   otherwise fall back silently to TypeScript; {@linkcode nativeStatus} tells why.
 *
 * @module
 */

import { createRequire } from "node:module";
import { isAbsolute, resolve } from "node:path";
import { EXPECTED_VERSION, type NativeBinding } from "./binding.ts";
import { NativeLoadError } from "./errors.ts";

/** Which implementation the native area uses. */
export type Implementation = "native" | "ts";

/** What the loader did, from {@linkcode nativeStatus}. */
export interface NativeStatus {
  /** `"native"` when the addon is loaded, `"ts"` otherwise. */
  implementation: Implementation;
  /** The library path tried (or loaded), when there was one. */
  path?: string;
  /** Why the TypeScript implementation is used, when it is. */
  reason?: string;
  /** `SPOOL_NATIVE` as read: `"0"`, `"1"` or undefined. */
  mode?: string;
}

const ACTION = "load the spool native module";

let cached: { binding: NativeBinding | null; status: NativeStatus } | undefined;

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

function readEnv(name: string): string | undefined {
  if (!granted({ name: "env", variable: name })) return undefined;
  return Deno.env.get(name) || undefined;
}

/** The default library path beside the source tree, or undefined when not a local file. */
export function defaultLibraryPath(): string | undefined {
  const url = new URL("../../native/spool_native.node", import.meta.url);
  if (url.protocol !== "file:") return undefined;
  return decodeURIComponent(url.pathname);
}

function absolute(path: string): string {
  if (isAbsolute(path)) return path;
  try {
    return resolve(Deno.cwd(), path);
  } catch {
    return path; // no read permission for the cwd: reported when loading
  }
}

function attempt(path: string | undefined): { binding: NativeBinding | null; reason?: string } {
  if (!path) {
    return {
      binding: null,
      reason: "no library path: spool is not loaded from a local checkout and SPOOL_NATIVE_PATH " +
        "is not set",
    };
  }
  if (!granted({ name: "ffi" })) {
    return { binding: null, reason: "the ffi permission is not granted (run with --allow-ffi)" };
  }
  if (!granted({ name: "read", path })) {
    return { binding: null, reason: `read permission for ${path} is not granted` };
  }
  try {
    Deno.statSync(path);
  } catch {
    return {
      binding: null,
      reason: `${path} does not exist (build it with \`deno task build:native\`)`,
    };
  }
  try {
    // Resolve from the library itself: spool may be imported from https:/jsr: (no file base).
    const binding = createRequire(path)(path) as NativeBinding;
    const version = binding.version();
    if (version !== EXPECTED_VERSION) {
      return {
        binding: null,
        reason: `${path} is version ${version}, expected ${EXPECTED_VERSION} (rebuild it)`,
      };
    }
    return { binding };
  } catch (error) {
    return {
      binding: null,
      reason: `${path} failed to load: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

function load(): { binding: NativeBinding | null; status: NativeStatus } {
  if (cached) return cached;
  const mode = readEnv("SPOOL_NATIVE");
  if (mode === "0") {
    cached = {
      binding: null,
      status: { implementation: "ts", mode, reason: "SPOOL_NATIVE=0 forces TypeScript" },
    };
    return cached;
  }
  const given = readEnv("SPOOL_NATIVE_PATH");
  const path = given ? absolute(given) : defaultLibraryPath();
  const { binding, reason } = attempt(path);
  const status: NativeStatus = binding
    ? { implementation: "native", path, mode }
    : { implementation: "ts", path, reason, mode };
  cached = { binding, status };
  return cached;
}

/**
 * The loaded addon, or null when the TypeScript implementation is in use.
 *
 * @throws {NativeLoadError} when `SPOOL_NATIVE=1` and the addon cannot be loaded.
 */
export function nativeBinding(): NativeBinding | null {
  const { binding, status } = load();
  if (!binding && status.mode === "1") {
    throw new NativeLoadError(
      ACTION,
      `SPOOL_NATIVE=1 requires it but ${status.reason}`,
      { received: status.path ?? "no library path" },
    );
  }
  return binding;
}

/**
 * The addon, or a {@linkcode NativeLoadError} saying why it is unavailable (whatever
 * `SPOOL_NATIVE` says). For code that only exists natively, like {@linkcode RingQueue}.
 */
export function requireNative(): NativeBinding {
  const { binding, status } = load();
  if (!binding) {
    throw new NativeLoadError(
      ACTION,
      status.reason ?? "it is unavailable",
      { received: status.path ?? "no library path" },
    );
  }
  return binding;
}

/**
 * Which implementation is active and why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeStatus } from "@spool/spool";
 *
 * const status = nativeStatus();
 * assert.ok(status.implementation === "native" || status.implementation === "ts");
 * ```
 */
export function nativeStatus(): NativeStatus {
  return { ...load().status };
}

/** `"native"` when the Rust addon is loaded, `"ts"` otherwise. */
export function activeImplementation(): Implementation {
  return load().status.implementation;
}

/** The path of the loaded library (to load it in a Worker), or undefined. */
export function loadedLibraryPath(): string | undefined {
  const { binding, status } = load();
  return binding ? status.path : undefined;
}
