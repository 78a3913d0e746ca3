/**
 * kvopt's SQLite store (design.md §4.7): better-sqlite3 12, WAL, synchronous NORMAL, foreign keys on,
 * busy timeout. The main thread is the single writer; workers return results to it.
 *
 * Crash safety: every write is one transaction (read-modify-write ones are IMMEDIATE, so they take
 * the write lock before reading). In WAL mode with synchronous NORMAL a committed transaction survives a
 * killed process (it may be lost only on power failure or an OS crash); an uncommitted one vanishes.
 * So a SIGKILL leaves whole evaluations and whole generations, never parts of them.
 *
 * Runs follow Optuna's trial states: 'running' with a heartbeat; a run whose process died (its pid is
 * gone on this host, or its heartbeat is older than the stale limit) is marked 'interrupted' and can be
 * resumed under the same id, skipping every evaluation already stored.
 */
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { mkdirSync, type Stats, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { diskFullError, isDiskFull } from '../util/disk-full.ts';
import { KvoptError } from '../util/errors.ts';
import { codeVersion } from './code-version.ts';
import { SCHEMA_VERSION, migrate, schemaVersion } from './migrations.ts';
import type {
  AverageRow,
  CandidateRow,
  EvaluationKey,
  EvaluationRow,
  EvaluationStatus,
  GenerationRow,
  InsertOutcome,
  NewCandidate,
  NewGeneration,
  NewProfile,
  NewRun,
  NewSample,
  PrefillEvent,
  ProfileRow,
  ResultRow,
  RunKind,
  RunRow,
  RunSample,
  RunStatus,
  RunSummary,
  StoredEvaluation,
} from './types.ts';

/**
 * A run whose heartbeat is older than this (and whose process cannot be checked) is taken as dead.
 * KVOPT_STALE_MS overrides it (tests of a stopped process losing its lease).
 */
export const DEFAULT_STALE_MS = Number(process.env.KVOPT_STALE_MS) > 0 ? Number(process.env.KVOPT_STALE_MS) : 120_000;

/** The full-cache method's canonical name: the reference of quality loss. */
export const FULL_METHOD = 'full';

export interface OpenOptions {
  /**
   * Read-only commands (runs, show, report, export, regress): the file must exist and already be a kvopt
   * database at the current schema; it is opened read-only, never created, migrated or written.
   */
  mustExist?: boolean;
  /** Clock, ms since epoch (tests). */
  now?: () => number;
  /** Busy timeout, ms. */
  timeoutMs?: number;
}

type Db = BetterSqlite3.Database;
type Row = Record<string, unknown>;

/** The string form of an evaluation key, for sets of what is stored. */
export function evaluationKeyString(k: Omit<EvaluationKey, 'runId'>): string {
  return `${k.sampleId}\u0000${k.method}\u0000${k.budget}\u0000${k.setting}`;
}

const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));
const parse = (s: unknown): unknown => (typeof s === 'string' ? JSON.parse(s) : null);
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function runFromRow(r: Row): RunRow {
  return {
    id: r.id as number,
    experimentId: r.experiment_id as number,
    experiment: r.experiment as string,
    kind: r.kind as RunKind,
    configJson: r.config_json as string,
    configYaml: (r.config_yaml as string | null) ?? null,
    configHash: r.config_hash as string,
    modelPath: r.model_path as string,
    modelHash: (r.model_hash as string | null) ?? null,
    codeVersion: r.code_version as string,
    seed: r.seed as number,
    status: r.status as RunStatus,
    startedAt: r.started_at as number,
    heartbeatAt: r.heartbeat_at as number,
    finishedAt: num(r.finished_at),
    error: (r.error as string | null) ?? null,
    pid: num(r.pid),
    host: (r.host as string | null) ?? null,
  };
}

function generationFromRow(r: Row): GenerationRow {
  return {
    id: r.id as number,
    runId: r.run_id as number,
    group: r.group_index as number,
    generation: r.generation as number,
    optimizerState: parse(r.optimizer_state),
    searchState: parse(r.search_state),
    bestFitness: num(r.best_fitness),
    medianFitness: num(r.median_fitness),
    bestCandidate: num(r.best_candidate),
    heldoutScore: num(r.heldout_score),
    wallMs: num(r.wall_ms),
    prefillMs: num(r.prefill_ms),
    decodeMs: num(r.decode_ms),
    createdAt: r.created_at as number,
  };
}

function candidateFromRow(r: Row): CandidateRow {
  return {
    id: r.id as number,
    generationId: r.generation_id as number,
    index: r.candidate_index as number,
    split: r.split as 'calibration' | 'heldout',
    budgets: parse(r.budgets) as number[],
    fitness: num(r.fitness),
    taskScore: num(r.task_score),
    cacheScore: num(r.cache_score),
    sampleScores: (parse(r.sample_scores) as Record<string, number> | null) ?? {},
  };
}

const RUN_SELECT = `SELECT r.*, x.name AS experiment FROM runs r JOIN experiments x ON x.id = r.experiment_id`;

/** Is process `pid` alive on this machine? (EPERM: alive but not ours.) */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
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

export class Store {
  private readonly now: () => number;

  private constructor(
    readonly path: string,
    /** The connection, for report queries this class does not offer. Write through the methods. */
    readonly db: Db,
    now: () => number,
  ) {
    this.now = now;
  }

  /**
   * Opens (creating the parent folder and the file unless `mustExist`) and migrates to the current
   * schema. A database written by a newer kvopt, or a file that is not SQLite, is a KvoptError naming it.
   */
  static open(path: string, opts: OpenOptions = {}): Store {
    if (opts.mustExist && path !== ':memory:') return Store.openReadOnly(path, opts);
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
    return new Store(path, db, opts.now ?? Date.now);
  }

  /** The read-only open of `mustExist`: nothing is created, migrated or written (not even an empty file). */
  private static openReadOnly(path: string, opts: OpenOptions): Store {
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
    return new Store(path, db, opts.now ?? Date.now);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  schemaVersion(): number {
    return schemaVersion(this.db);
  }

  /** Runs `fn` in one IMMEDIATE transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  // ---- experiments and runs ---------------------------------------------------------------------

  /** The experiment's id, created on first use. */
  createExperiment(name: string): number {
    return this.transaction(() => {
      this.db.prepare('INSERT INTO experiments (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, this.now());
      return (this.db.prepare('SELECT id FROM experiments WHERE name = ?').get(name) as Row).id as number;
    });
  }

  /** A new run in state 'running', held by this process. */
  createRun(r: NewRun): RunRow {
    return this.transaction(() => {
      const experimentId = this.createExperiment(r.experiment);
      const t = this.now();
      const info = this.db
        .prepare(
          `INSERT INTO runs (experiment_id, kind, config_json, config_yaml, config_hash, model_path, model_hash,
             code_version, seed, status, started_at, heartbeat_at, pid, host)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)`,
        )
        .run(
          experimentId,
          r.kind,
          r.configJson,
          r.configYaml ?? null,
          r.configHash,
          r.modelPath,
          r.modelHash ?? null,
          r.codeVersion ?? codeVersion(),
          r.seed,
          t,
          t,
          process.pid,
          hostname(),
        );
      return this.getRun(Number(info.lastInsertRowid));
    });
  }

  /** A run by id, or the newest run ('latest', optionally of one kind). KvoptError when there is none. */
  getRun(ref: number | 'latest', kind?: RunKind): RunRow {
    let row: Row | undefined;
    if (ref === 'latest') {
      row = kind
        ? (this.db.prepare(`${RUN_SELECT} WHERE r.kind = ? ORDER BY r.id DESC LIMIT 1`).get(kind) as Row | undefined)
        : (this.db.prepare(`${RUN_SELECT} ORDER BY r.id DESC LIMIT 1`).get() as Row | undefined);
      if (!row) throw new KvoptError(`${this.path}: no ${kind ? `${kind} ` : ''}runs yet`);
    } else {
      row = this.db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(ref) as Row | undefined;
      if (!row) throw new KvoptError(`${this.path}: no run with id ${ref}`);
    }
    return runFromRow(row);
  }

  /**
   * The newest run of `kind` with this config hash that did not complete, after marking dead 'running'
   * runs as interrupted. A run still held by a live process is returned too (resumeRun then refuses it).
   */
  findResumableRun(configHash: string, kind: RunKind, staleMs = DEFAULT_STALE_MS): RunRow | null {
    this.markInterrupted(staleMs);
    const row = this.db
      .prepare(`${RUN_SELECT} WHERE r.config_hash = ? AND r.kind = ? AND r.status <> 'complete' ORDER BY r.id DESC LIMIT 1`)
      .get(configHash, kind) as Row | undefined;
    return row ? runFromRow(row) : null;
  }

  /** Records the weights hash once the model is loaded; a resumed run must see the same model. */
  setModelHash(runId: number, modelHash: string): void {
    this.transaction(() => {
      const run = this.getRun(runId);
      if (run.modelHash !== null && run.modelHash !== modelHash) {
        throw new KvoptError(
          `run ${runId} was made with model ${run.modelHash.slice(0, 12)}, but ${run.modelPath} now hashes to ${modelHash.slice(0, 12)}; start a new run instead of --resume`,
        );
      }
      this.db.prepare('UPDATE runs SET model_hash = ? WHERE id = ?').run(modelHash, runId);
    });
  }

  /**
   * Renews this process's lease on a run it holds. False when the lease is lost: another process took
   * the run over (e.g. while this one was stopped longer than the stale limit); the caller must stop.
   */
  heartbeat(runId: number): boolean {
    const info = this.db
      .prepare(`UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running' AND pid = ? AND host = ?`)
      .run(this.now(), runId, process.pid, hostname());
    return info.changes > 0;
  }

  /** Whether this process still holds the run (status running, its pid and host). */
  holdsRun(runId: number): boolean {
    const r = this.db.prepare('SELECT status, pid, host FROM runs WHERE id = ?').get(runId) as Row | undefined;
    return r !== undefined && r.status === 'running' && r.pid === process.pid && r.host === hostname();
  }

  /** The newest complete run of `kind` with this config hash (what `--resume` names when nothing is left to do). */
  completedRun(configHash: string, kind: RunKind): RunRow | null {
    const row = this.db
      .prepare(`${RUN_SELECT} WHERE r.config_hash = ? AND r.kind = ? AND r.status = 'complete' ORDER BY r.id DESC LIMIT 1`)
      .get(configHash, kind) as Row | undefined;
    return row ? runFromRow(row) : null;
  }

  /**
   * Deletes a run that stored no work (no evaluation, generation or profile), e.g. one rejected right after
   * it was created, so `latest` never names it. Returns whether it was deleted.
   */
  discardEmptyRun(runId: number): boolean {
    return this.transaction(() => {
      const work = this.db
        .prepare(
          `SELECT (SELECT COUNT(*) FROM evaluations WHERE run_id = ?) + (SELECT COUNT(*) FROM generations WHERE run_id = ?)
             + (SELECT COUNT(*) FROM profiles WHERE run_id = ?) AS n`,
        )
        .get(runId, runId, runId) as Row;
      if ((work.n as number) > 0) return false;
      this.db.prepare('DELETE FROM runs WHERE id = ?').run(runId);
      return true;
    });
  }

  /** Ends a run: 'complete', 'failed' (with the error) or 'interrupted' (e.g. Ctrl-C). */
  finishRun(runId: number, status: Exclude<RunStatus, 'running'>, error: string | null = null): void {
    const t = this.now();
    this.db.prepare('UPDATE runs SET status = ?, error = ?, finished_at = ?, heartbeat_at = ?, pid = NULL WHERE id = ?').run(status, error, t, t, runId);
  }

  /**
   * Marks as 'interrupted' every 'running' run whose process is gone: its pid is dead on this host, or
   * its heartbeat is older than `staleMs`. Returns their ids.
   */
  markInterrupted(staleMs = DEFAULT_STALE_MS): number[] {
    return this.transaction(() => {
      const host = hostname();
      const t = this.now();
      const running = this.db.prepare(`SELECT id, pid, host, heartbeat_at FROM runs WHERE status = 'running'`).all() as Row[];
      const dead = running.filter((r) => {
        if (r.pid === process.pid && r.host === host) return false; // ours
        if (r.host === host && typeof r.pid === 'number' && !pidAlive(r.pid)) return true;
        return t - (r.heartbeat_at as number) > staleMs;
      });
      const mark = this.db.prepare(`UPDATE runs SET status = 'interrupted', pid = NULL, error = 'process ended without finishing the run' WHERE id = ?`);
      for (const r of dead) mark.run(r.id);
      return dead.map((r) => r.id as number);
    });
  }

  /**
   * Takes over a run to continue it: it becomes 'running' under this process. Refuses a run that another
   * live process still holds, and a complete run.
   */
  resumeRun(runId: number, staleMs = DEFAULT_STALE_MS): RunRow {
    return this.transaction(() => {
      this.markInterrupted(staleMs);
      const run = this.getRun(runId);
      if (run.status === 'complete') throw new KvoptError(`run ${runId} is already complete; nothing to resume`);
      if (run.status === 'running' && !(run.pid === process.pid && run.host === hostname())) {
        const ago = Math.round((this.now() - run.heartbeatAt) / 1000);
        throw new KvoptError(`run ${runId} is still running (pid ${run.pid} on ${run.host}, heartbeat ${ago}s ago)`);
      }
      const t = this.now();
      this.db
        .prepare(`UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, heartbeat_at = ?, pid = ?, host = ? WHERE id = ?`)
        .run(t, process.pid, hostname(), runId);
      return this.getRun(runId);
    });
  }

  /** Runs, newest first, with best fitness, evaluation counts and duration. */
  listRuns(opts: { experiment?: string; limit?: number } = {}): RunSummary[] {
    const rows = this.db
      .prepare(
        `${RUN_SELECT.replace(
          'SELECT r.*, x.name AS experiment',
          `SELECT r.*, x.name AS experiment,
          (SELECT MAX(c.fitness) FROM candidates c JOIN generations g ON g.id = c.generation_id
             WHERE g.run_id = r.id AND c.split = 'calibration') AS best_fitness,
          (SELECT COUNT(*) FROM evaluations e WHERE e.run_id = r.id AND e.status = 'ok') AS n_ok,
          (SELECT COUNT(*) FROM evaluations e WHERE e.run_id = r.id AND e.status = 'failed') AS n_failed,
          (SELECT COUNT(*) FROM generations g WHERE g.run_id = r.id) AS n_generations`,
        )}
         WHERE (? IS NULL OR x.name = ?) ORDER BY r.id DESC LIMIT ?`,
      )
      .all(opts.experiment ?? null, opts.experiment ?? null, opts.limit ?? -1) as Row[];
    return rows.map((r) => {
      const run = runFromRow(r);
      return {
        ...run,
        bestFitness: num(r.best_fitness),
        evaluationsOk: r.n_ok as number,
        evaluationsFailed: r.n_failed as number,
        generations: r.n_generations as number,
        durationMs: (run.finishedAt ?? run.heartbeatAt) - run.startedAt,
      };
    });
  }

  // ---- samples and prefills ---------------------------------------------------------------------

  /** Registers the run's samples in order; returns their ids. Calling again with the same list is a no-op. */
  registerSamples(runId: number, samples: readonly NewSample[]): number[] {
    return this.transaction(() => {
      const ins = this.db.prepare(
        'INSERT INTO samples (task, sample_key, content_hash) VALUES (?, ?, ?) ON CONFLICT (task, sample_key, content_hash) DO NOTHING',
      );
      const get = this.db.prepare('SELECT id FROM samples WHERE task = ? AND sample_key = ? AND content_hash = ?');
      const link = this.db.prepare(
        `INSERT INTO run_samples (run_id, sample_id, split, position) VALUES (?, ?, ?, ?)
         ON CONFLICT (run_id, sample_id) DO UPDATE SET split = excluded.split, position = excluded.position`,
      );
      const position = this.db.prepare('SELECT position FROM run_samples WHERE run_id = ? AND sample_id = ?');
      let next = (this.db.prepare('SELECT COALESCE(MAX(position) + 1, 0) AS p FROM run_samples WHERE run_id = ?').get(runId) as Row).p as number;
      return samples.map((s) => {
        ins.run(s.task, s.key, s.contentHash);
        const id = (get.get(s.task, s.key, s.contentHash) as Row).id as number;
        const existing = position.get(runId, id) as Row | undefined;
        link.run(runId, id, s.split, existing ? existing.position : next++);
        return id;
      });
    });
  }

  samplesForRun(runId: number): RunSample[] {
    const rows = this.db
      .prepare(
        `SELECT s.id, s.task, s.sample_key, s.content_hash, rs.split, rs.position
         FROM run_samples rs JOIN samples s ON s.id = rs.sample_id WHERE rs.run_id = ? ORDER BY rs.position`,
      )
      .all(runId) as Row[];
    return rows.map((r) => ({
      id: r.id as number,
      task: r.task as string,
      key: r.sample_key as string,
      contentHash: r.content_hash as string,
      split: r.split as RunSample['split'],
      position: r.position as number,
    }));
  }

  /** Records one prefill actually computed (call it on a cache miss, not on reuse). */
  recordPrefill(p: PrefillEvent): void {
    this.db
      .prepare(
        `INSERT INTO prefills (run_id, model_hash, content_hash, setting, window, tokens, ms, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.runId, p.modelHash, p.contentHash, p.setting, p.window, p.tokens, p.ms, this.now());
  }

  /** Prefills computed, for one run or for the whole database. */
  prefillCount(runId?: number): number {
    const r =
      runId === undefined
        ? this.db.prepare('SELECT COUNT(*) AS n FROM prefills').get()
        : this.db.prepare('SELECT COUNT(*) AS n FROM prefills WHERE run_id = ?').get(runId);
    return (r as Row).n as number;
  }

  /**
   * Mean prompt length (tokens, rounded) over the distinct prompts the run prefilled; null when it has no
   * prefill events (e.g. every prefill came from the on-disk cache). Used to turn budgets into ratios.
   */
  meanPrefillTokens(runId: number): number | null {
    const r = this.db
      .prepare(
        `SELECT AVG(tokens) AS t FROM (SELECT MAX(tokens) AS tokens FROM prefills WHERE run_id = ?
         GROUP BY model_hash, content_hash, setting, window)`,
      )
      .get(runId) as Row;
    return r.t === null ? null : Math.round(r.t as number);
  }

  /** The most times any one prompt was prefilled for the same model, setting and window (1 = prefill once held). */
  /** Prefills of the run per distinct prompt prefilled (1.0: none twice; 0 when nothing was prefilled). */
  prefillsPerPrompt(runId: number): number {
    const r = this.db
      .prepare(
        `SELECT COUNT(*) AS n, COUNT(DISTINCT model_hash || '|' || content_hash || '|' || setting || '|' || window) AS p
         FROM prefills WHERE run_id = ?`,
      )
      .get(runId) as Row;
    return (r.p as number) ? (r.n as number) / (r.p as number) : 0;
  }

  maxPrefillsPerPrompt(runId?: number): number {
    const r = this.db
      .prepare(
        `SELECT COALESCE(MAX(n), 0) AS m FROM (SELECT COUNT(*) AS n FROM prefills WHERE (? IS NULL OR run_id = ?)
         GROUP BY model_hash, content_hash, setting, window)`,
      )
      .get(runId ?? null, runId ?? null) as Row;
    return r.m as number;
  }

  // ---- evaluations ------------------------------------------------------------------------------

  /** True when an 'ok' evaluation is stored under the key (a failed one does not count). */
  hasEvaluation(k: EvaluationKey): boolean {
    return this.evaluationStatus(k)?.status === 'ok';
  }

  evaluationStatus(k: EvaluationKey): { status: EvaluationStatus; attempt: number } | null {
    const r = this.db
      .prepare('SELECT status, attempt FROM evaluations WHERE run_id = ? AND sample_id = ? AND method = ? AND budget = ? AND setting = ?')
      .get(k.runId, k.sampleId, k.method, k.budget, k.setting) as Row | undefined;
    return r ? { status: r.status as EvaluationStatus, attempt: r.attempt as number } : null;
  }

  /** evaluationKeyString of every 'ok' evaluation of the run: what a resumed run skips. */
  completedEvaluationKeys(runId: number): Set<string> {
    const rows = this.db.prepare(`SELECT sample_id, method, budget, setting FROM evaluations WHERE run_id = ? AND status = 'ok'`).all(runId) as Row[];
    return new Set(
      rows.map((r) =>
        evaluationKeyString({ sampleId: r.sample_id as number, method: r.method as string, budget: r.budget as string, setting: r.setting as string }),
      ),
    );
  }

  /**
   * Stores an evaluation, idempotent on (run, sample, method, budget, setting): an 'ok' row is never
   * overwritten; a 'failed' row is replaced by an 'ok' one or by a later attempt.
   */
  insertEvaluation(e: EvaluationRow): InsertOutcome {
    return this.transaction(() => {
      const prev = this.evaluationStatus(e);
      const attempt = e.attempt ?? 1;
      if (prev && (prev.status === 'ok' || (e.status === 'failed' && attempt <= prev.attempt))) return 'kept';
      const values = [
        e.runId,
        e.sampleId,
        e.method,
        JSON.stringify(e.methodOptions ?? {}),
        e.budget,
        e.budgetTokens ?? null,
        json(e.budgetProfile),
        e.setting,
        e.score,
        e.metric ?? null,
        json(e.metrics),
        e.prediction ?? null,
        e.answerTokens ?? null,
        e.generatedTokens ?? null,
        e.prefillMs ?? null,
        e.compressMs ?? null,
        e.decodeMs ?? null,
        e.kvEntries ?? null,
        e.kvBytes ?? null,
        e.status,
        e.error ?? null,
        attempt,
        this.now(),
        json(e.headBudgets),
      ];
      if (prev) {
        this.db
          .prepare('DELETE FROM evaluations WHERE run_id = ? AND sample_id = ? AND method = ? AND budget = ? AND setting = ?')
          .run(e.runId, e.sampleId, e.method, e.budget, e.setting);
      }
      this.db
        .prepare(
          `INSERT INTO evaluations (run_id, sample_id, method, method_options, budget, budget_tokens, budget_profile,
             setting, score, metric, metrics, prediction, answer_tokens, generated_tokens, prefill_ms, compress_ms, decode_ms,
             kv_entries, kv_bytes, status, error, attempt, created_at, head_budgets)
           VALUES (${values.map(() => '?').join(', ')})`,
        )
        .run(...values);
      return prev ? 'replaced' : 'inserted';
    });
  }

  /** Every evaluation of the run (ok and failed), in a stable order. */
  evaluationsForRun(runId: number): StoredEvaluation[] {
    const rows = this.db
      .prepare(
        `SELECT e.*, s.task, s.sample_key FROM evaluations e JOIN samples s ON s.id = e.sample_id
         WHERE e.run_id = ? ORDER BY s.task, e.sample_id, e.method, e.budget, e.setting`,
      )
      .all(runId) as Row[];
    return rows.map((r) => ({
      id: r.id as number,
      runId: r.run_id as number,
      sampleId: r.sample_id as number,
      task: r.task as string,
      sampleKey: r.sample_key as string,
      method: r.method as string,
      methodOptions: parse(r.method_options) as Record<string, unknown>,
      budget: r.budget as string,
      budgetTokens: num(r.budget_tokens),
      budgetProfile: parse(r.budget_profile) as number[] | null,
      headBudgets: parse(r.head_budgets) as number[][] | null,
      setting: r.setting as string,
      score: num(r.score),
      metric: (r.metric as string | null) ?? null,
      metrics: parse(r.metrics) as Record<string, number> | null,
      prediction: (r.prediction as string | null) ?? null,
      answerTokens: num(r.answer_tokens),
      generatedTokens: num(r.generated_tokens),
      prefillMs: num(r.prefill_ms),
      compressMs: num(r.compress_ms),
      decodeMs: num(r.decode_ms),
      kvEntries: num(r.kv_entries),
      kvBytes: num(r.kv_bytes),
      status: r.status as EvaluationStatus,
      error: (r.error as string | null) ?? null,
      attempt: r.attempt as number,
      createdAt: r.created_at as number,
    }));
  }

  /**
   * The method × budget × setting × task table: mean score over ok evaluations, counts, mean resolved
   * budget and memory, and quality loss against `full` as DefensiveKV reports it, 1 − score/score_full,
   * computed over the samples both have scored (so a failed sample does not skew the ratio).
   */
  results(runId: number): ResultRow[] {
    const rows = this.db
      .prepare(
        `WITH full AS (
           SELECT sample_id, setting, AVG(score) AS score FROM evaluations
           WHERE run_id = ? AND method = ? AND status = 'ok' AND score IS NOT NULL GROUP BY sample_id, setting)
         SELECT e.method, e.budget, e.setting, s.task,
           SUM(e.status = 'ok') AS n,
           SUM(e.status = 'failed') AS failed,
           AVG(CASE WHEN e.status = 'ok' THEN e.score END) AS mean_score,
           AVG(CASE WHEN e.status = 'ok' THEN e.budget_tokens END) AS mean_budget_tokens,
           AVG(CASE WHEN e.status = 'ok' THEN e.kv_entries END) AS mean_kv_entries,
           AVG(CASE WHEN e.status = 'ok' THEN e.kv_bytes END) AS mean_kv_bytes,
           AVG(CASE WHEN e.status = 'ok' AND f.score IS NOT NULL THEN e.score END) AS paired_score,
           AVG(CASE WHEN e.status = 'ok' AND e.score IS NOT NULL THEN f.score END) AS full_score
         FROM evaluations e
         JOIN samples s ON s.id = e.sample_id
         LEFT JOIN full f ON f.sample_id = e.sample_id AND f.setting = e.setting
         WHERE e.run_id = ?
         GROUP BY e.method, e.budget, e.setting, s.task
         ORDER BY e.method <> ?, e.method, mean_budget_tokens, e.budget, e.setting, s.task`,
      )
      .all(runId, FULL_METHOD, runId, FULL_METHOD) as Row[];
    const metrics = this.metricMeans(runId);
    return rows.map((r) => {
      const fullScore = num(r.full_score);
      const paired = num(r.paired_score);
      return {
        method: r.method as string,
        budget: r.budget as string,
        setting: r.setting as string,
        task: r.task as string,
        n: r.n as number,
        failed: r.failed as number,
        meanScore: num(r.mean_score),
        meanBudgetTokens: num(r.mean_budget_tokens),
        meanKvEntries: num(r.mean_kv_entries),
        meanKvBytes: num(r.mean_kv_bytes),
        fullScore,
        qualityLoss: fullScore === null || paired === null || fullScore === 0 ? null : 1 - paired / fullScore,
        metrics: metrics.get(`${r.method}\u0000${r.budget}\u0000${r.setting}\u0000${r.task}`) ?? {},
      };
    });
  }

  /** Mean of each secondary metric per method × budget × setting × task, over ok evaluations. */
  private metricMeans(runId: number): Map<string, Record<string, number>> {
    const rows = this.db
      .prepare(
        `SELECT e.method, e.budget, e.setting, s.task, e.metrics FROM evaluations e JOIN samples s ON s.id = e.sample_id
         WHERE e.run_id = ? AND e.status = 'ok' AND e.metrics IS NOT NULL`,
      )
      .all(runId) as Row[];
    const sums = new Map<string, Map<string, [number, number]>>();
    for (const r of rows) {
      const key = `${r.method}\u0000${r.budget}\u0000${r.setting}\u0000${r.task}`;
      const acc = sums.get(key) ?? new Map<string, [number, number]>();
      sums.set(key, acc);
      for (const [name, v] of Object.entries(parse(r.metrics) as Record<string, number>)) {
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        const [s0, n0] = acc.get(name) ?? [0, 0];
        acc.set(name, [s0 + v, n0 + 1]);
      }
    }
    return new Map([...sums].map(([k, acc]) => [k, Object.fromEntries([...acc].map(([name, [s0, n0]]) => [name, s0 / n0]))]));
  }

  /** results() averaged over tasks per method × budget × setting (each task weighs the same). */
  averageResults(runId: number, results: readonly ResultRow[] = this.results(runId)): AverageRow[] {
    const groups = new Map<string, ResultRow[]>();
    for (const r of results) {
      const k = `${r.method}\u0000${r.budget}\u0000${r.setting}`;
      const group = groups.get(k);
      if (group) group.push(r);
      else groups.set(k, [r]);
    }
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    return [...groups.values()].map((rows) => ({
      method: rows[0].method,
      budget: rows[0].budget,
      setting: rows[0].setting,
      tasks: rows.length,
      meanScore: mean(rows.flatMap((r) => (r.meanScore === null ? [] : [r.meanScore]))),
      qualityLoss: mean(rows.flatMap((r) => (r.qualityLoss === null ? [] : [r.qualityLoss]))),
    }));
  }

  // ---- search -----------------------------------------------------------------------------------

  /**
   * Stores a generation, its candidates and the optimiser state after it, in ONE immediate transaction:
   * a kill leaves the generation whole or absent. Storing the same (run, group, generation) twice is an error.
   */
  saveGeneration(g: NewGeneration, candidates: readonly NewCandidate[]): number {
    return this.transaction(() => {
      const exists = this.db.prepare('SELECT 1 FROM generations WHERE run_id = ? AND group_index = ? AND generation = ?').get(g.runId, g.group, g.generation);
      if (exists) throw new KvoptError(`run ${g.runId}: generation ${g.generation} of group ${g.group} is already stored`);
      const info = this.db
        .prepare(
          `INSERT INTO generations (run_id, group_index, generation, optimizer_state, search_state, best_fitness,
             median_fitness, best_candidate, heldout_score, wall_ms, prefill_ms, decode_ms, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          g.runId,
          g.group,
          g.generation,
          JSON.stringify(g.optimizerState),
          json(g.searchState),
          g.bestFitness,
          g.medianFitness,
          g.bestCandidate ?? null,
          g.heldoutScore ?? null,
          g.wallMs ?? null,
          g.prefillMs ?? null,
          g.decodeMs ?? null,
          this.now(),
        );
      const id = Number(info.lastInsertRowid);
      const ins = this.db.prepare(
        `INSERT INTO candidates (generation_id, candidate_index, split, budgets, fitness, task_score, cache_score, sample_scores)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const c of candidates) {
        ins.run(id, c.index, c.split ?? 'calibration', JSON.stringify(c.budgets), c.fitness, c.taskScore, c.cacheScore, json(c.sampleScores ?? {}));
      }
      return id;
    });
  }

  /** The last stored generation (highest group, then generation) with its candidates; null if none. */
  loadLatestGeneration(runId: number): (GenerationRow & { candidates: CandidateRow[] }) | null {
    const r = this.db.prepare('SELECT * FROM generations WHERE run_id = ? ORDER BY group_index DESC, generation DESC LIMIT 1').get(runId) as Row | undefined;
    if (!r) return null;
    const g = generationFromRow(r);
    return { ...g, candidates: this.candidates(g.id) };
  }

  /** All generations of a run in order (the calibration and held-out curves). */
  generations(runId: number): GenerationRow[] {
    const rows = this.db.prepare('SELECT * FROM generations WHERE run_id = ? ORDER BY group_index, generation').all(runId) as Row[];
    return rows.map(generationFromRow);
  }

  candidates(generationId: number): CandidateRow[] {
    const rows = this.db.prepare('SELECT * FROM candidates WHERE generation_id = ? ORDER BY split, candidate_index').all(generationId) as Row[];
    return rows.map(candidateFromRow);
  }

  /** The run's best calibration candidate so far (highest fitness; the earliest on ties). */
  bestCandidate(runId: number): CandidateRow | null {
    const r = this.db
      .prepare(
        `SELECT c.* FROM candidates c JOIN generations g ON g.id = c.generation_id
         WHERE g.run_id = ? AND c.split = 'calibration' AND c.fitness IS NOT NULL
         ORDER BY c.fitness DESC, g.group_index, g.generation, c.candidate_index LIMIT 1`,
      )
      .get(runId) as Row | undefined;
    return r ? candidateFromRow(r) : null;
  }

  /** Stores (or replaces) the run's profile for one target budget. */
  saveProfile(p: NewProfile): void {
    this.db
      .prepare(
        `INSERT INTO profiles (run_id, budget, budgets, source, fitness, calibration_score, heldout_score, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, budget) DO UPDATE SET budgets = excluded.budgets, source = excluded.source,
           fitness = excluded.fitness, calibration_score = excluded.calibration_score,
           heldout_score = excluded.heldout_score, created_at = excluded.created_at`,
      )
      .run(p.runId, p.budget, JSON.stringify(p.budgets), p.source, p.fitness ?? null, p.calibrationScore ?? null, p.heldoutScore ?? null, this.now());
  }

  profiles(runId: number): ProfileRow[] {
    const rows = this.db.prepare('SELECT * FROM profiles WHERE run_id = ? ORDER BY budget').all(runId) as Row[];
    return rows.map((r) => ({
      id: r.id as number,
      runId: r.run_id as number,
      budget: r.budget as number,
      budgets: parse(r.budgets) as number[],
      source: r.source as 'search' | 'transfer',
      fitness: num(r.fitness),
      calibrationScore: num(r.calibration_score),
      heldoutScore: num(r.heldout_score),
      createdAt: r.created_at as number,
    }));
  }
}
