/**
 * native: loader of the Rust napi-rs module and the pure-TypeScript fallbacks.
 *
 * @module
 */

export {};
