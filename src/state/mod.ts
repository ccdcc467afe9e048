/**
 * state: crash-safe snapshots (`StateStore`), the `PersistentState` interface, ready-made
 * components, save conditions and retention keepers.
 *
 * @module
 */

export { StateStore } from "./store.ts";
export type { LoadOptions, SaveOptions, StateStoreOptions } from "./store_options.ts";
export type { SnapshotInfo } from "./snapshot_reader.ts";
export type {
  SnapshotRef,
  SnapshotStorage,
  StagedFiles,
  StagedSnapshot,
  StorageLock,
  StoredFile,
} from "./storage.ts";
export type { LoadContext, PersistentState, SaveContext } from "./context.ts";
export type { DType } from "./dtype.ts";
export type { ChecksumAlgorithm } from "./checksum.ts";
export type { LockHolder } from "./errors.ts";
export {
  DuplicateStateError,
  SnapshotCorruptError,
  SnapshotNotFoundError,
  SnapshotWriteError,
  StateComponentError,
  StateMismatchError,
  StoreLockedError,
} from "./errors.ts";
export type { ArrayState, JsonState, RecordState } from "./states.ts";
export { arrayState, jsonState, recordState } from "./states.ts";
export type { PeriodicSaveConditionOptions, SaveCondition } from "./conditions.ts";
export { anyCondition, EveryNCondition, PeriodicSaveCondition } from "./conditions.ts";
export type { PrunableStore, StatesKeeper } from "./keepers.ts";
export { LatestStatesKeeper } from "./keepers.ts";
export { NatsStorage } from "./nats_storage.ts";
export type { NatsStorageOptions } from "./nats_storage.ts";
