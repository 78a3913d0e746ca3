/**
 * The SQLite connection every aggregate module shares (design.md §4.7): better-sqlite3 12, WAL, synchronous
 * NORMAL, foreign keys on, busy timeout. The main thread is the single writer; workers return results to it.
 *
 * Crash safety: every write is one transaction (read-modify-write ones are IMMEDIATE, so they take the write
 * lock before reading). In WAL mode with synchronous NORMAL a committed transaction survives a killed process
 * (it may be lost only on power failure or an OS crash); an uncommitted one vanishes. So a SIGKILL leaves
 * whole evaluations and whole generations, never parts of them.
 */
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { mkdirSync, type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { diskFullError, isDiskFull } from '../../util/disk-full.ts';
import { KvoptError } from '../../util/errors.ts';
import { SCHEMA_VERSION, migrate, schemaVersion } from '../migrations.ts';

export type Db = BetterSqlite3.Database;
export type Row = Record<string, unknown>;

export interface OpenOptions {
  /** Clock, ms since epoch (tests). */
  now?: () => number;
  /** Busy timeout, ms. */
  timeoutMs?: number;
}

/** JSON text of a value, NULL for null/undefined. */
export const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));
/** A JSON column's value, null for NULL. */
export const parse = (s: unknown): unknown => (typeof s === 'string' ? JSON.parse(s) : null);
/** A nullable numeric column. */
export const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class SqliteConnection {
  constructor(
    readonly path: string,
    readonly db: Db,
    readonly now: () => number,
  ) {}

  /** Runs `fn` in one IMMEDIATE transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Runs `check` on a freshly opened database; on failure closes it and reports SQLite's errors in one line. */
function checkOpened(path: string, db: Db, check: () => void): void {
  try {
    check();
  } catch (err) {
    db.close();
    if (err instanceof KvoptError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw new KvoptError(`${path}: not a kvopt database (${(err as Error).message})`);
    if (isDiskFull(err)) throw diskFullError(path);
    throw err;
  }
}

const newerSchema = (path: string, version: number) =>
  new KvoptError(`${path}: database schema version ${version} is newer than this kvopt understands (${SCHEMA_VERSION}); upgrade kvopt or use another --db`);

/**
 * Opens (creating the parent folder and the file) and migrates to the current schema. A database written
 * by a newer kvopt, or a file that is not SQLite, is a KvoptError naming it.
 */
export function openConnection(path: string, opts: OpenOptions = {}): SqliteConnection {
  const memory = path === ':memory:';
  if (!memory) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (err) {
      throw new KvoptError(`${path}: cannot create its folder (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  let db: Db;
  try {
    db = new Database(path, { timeout: opts.timeoutMs ?? 10_000 });
  } catch (err) {
    throw new KvoptError(`${path}: cannot open the database (${(err as Error).message})`);
  }
  checkOpened(path, db, () => {
    const version = schemaVersion(db);
    if (version > SCHEMA_VERSION) throw newerSchema(path, version);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
  });
  return new SqliteConnection(path, db, opts.now ?? Date.now);
}

/**
 * Opens an existing kvopt database at the current schema read-only: nothing is created, migrated or
 * written (not even an empty file), and SQLite refuses every write on the connection.
 */
export function openReadOnlyConnection(path: string, opts: OpenOptions = {}): SqliteConnection {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    throw new KvoptError(`${path}: no such kvopt database`);
  }
  if (st.isDirectory()) throw new KvoptError(`${path}: is a folder, expected a kvopt database file`);
  if (st.size === 0) throw new KvoptError(`${path}: empty file, not a kvopt database`);
  let db: Db;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: opts.timeoutMs ?? 10_000 });
  } catch (err) {
    throw new KvoptError(`${path}: cannot open the database (${(err as Error).message})`);
  }
  checkOpened(path, db, () => {
    const version = schemaVersion(db);
    const hasRuns = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'`).get() !== undefined;
    if (version === 0 || !hasRuns) throw new KvoptError(`${path}: not a kvopt database (no kvopt tables)`);
    if (version > SCHEMA_VERSION) throw newerSchema(path, version);
    if (version < SCHEMA_VERSION) {
      throw new KvoptError(
        `${path}: database schema version ${version} is older than this kvopt's (${SCHEMA_VERSION}); a writing command (kvopt eval or search with this --db) upgrades it`,
      );
    }
  });
  return new SqliteConnection(path, db, opts.now ?? Date.now);
}
