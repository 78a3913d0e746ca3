/**
 * Where callers open kvopt's store: the SQLite implementation of `Storage` (sqlite/storage.ts) under its
 * historical name, and the backend-independent constants of the contract (storage.ts).
 */
export { SqliteStorage as Store } from './sqlite/storage.ts';
export { DEFAULT_STALE_MS, FULL_METHOD, evaluationKeyString } from './storage.ts';
export type { ReadOnlyStorage, Storage } from './storage.ts';
