/**
 * pool: public exports of this area (re-exported by the root mod.ts).
 *
 * @module
 */

export {};
