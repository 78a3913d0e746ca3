/**
 * kvopt's SQLite storage: the aggregate modules (runs, samples, evaluations, search) over one shared
 * connection (connection.ts), composed into the one `Storage` the study loop takes. Opened read-only, it is
 * a SqliteReadOnlyStorage, which has no write methods, over a connection on which SQLite refuses writes.
 */
import type { ReadOnlyStorage, Storage } from '../storage.ts';
import { schemaVersion } from '../migrations.ts';
import type {
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
  ResultAggregate,
  RunKind,
  RunRow,
  RunSample,
  RunStatus,
  RunSummary,
  StoredEvaluation,
} from '../types.ts';
import { type Db, type OpenOptions, openConnection, openReadOnlyConnection, type SqliteConnection } from './connection.ts';
import { SqliteEvaluations } from './evaluations.ts';
import { SqliteRuns } from './runs.ts';
import { SqliteSamples } from './samples.ts';
import { SqliteSearch } from './search.ts';

export interface SqliteOpenOptions extends OpenOptions {
  /**
   * Read-only commands (runs, show, report, export, regress): the file must exist and already be a kvopt
   * database at the current schema; it is opened read-only, never created, migrated or written.
   */
  mustExist?: boolean;
}

/** The reads of every aggregate: what openReadOnly hands out, so a write method does not even exist on it. */
export class SqliteReadOnlyStorage implements ReadOnlyStorage {
  protected readonly runs: SqliteRuns;
  protected readonly samples: SqliteSamples;
  protected readonly evaluations: SqliteEvaluations;
  protected readonly search: SqliteSearch;

  protected constructor(protected readonly c: SqliteConnection) {
    this.runs = new SqliteRuns(c);
    this.samples = new SqliteSamples(c);
    this.evaluations = new SqliteEvaluations(c);
    this.search = new SqliteSearch(c);
  }

  /** An existing database at the current schema, read-only: nothing is created, migrated or written (not even an empty file). */
  static openReadOnly(path: string, opts: OpenOptions = {}): ReadOnlyStorage {
    return new SqliteReadOnlyStorage(openReadOnlyConnection(path, opts));
  }

  get path(): string {
    return this.c.path;
  }

  /** The connection, for tests of the file itself (pragmas, raw rows). Write through the methods. */
  get db(): Db {
    return this.c.db;
  }

  close(): void {
    this.c.close();
  }

  schemaVersion(): number {
    return schemaVersion(this.c.db);
  }

  // ---- runs
  getRun(ref: number | 'latest', kind?: RunKind): RunRow {
    return this.runs.getRun(ref, kind);
  }
  holdsRun(runId: number): boolean {
    return this.runs.holdsRun(runId);
  }
  completedRun(configHash: string, kind: RunKind): RunRow | null {
    return this.runs.completedRun(configHash, kind);
  }
  listRuns(opts?: { experiment?: string; limit?: number }): RunSummary[] {
    return this.runs.listRuns(opts);
  }

  // ---- samples and prefills
  samplesForRun(runId: number): RunSample[] {
    return this.samples.samplesForRun(runId);
  }
  prefillCount(runId?: number): number {
    return this.samples.prefillCount(runId);
  }
  meanPrefillTokens(runId: number): number | null {
    return this.samples.meanPrefillTokens(runId);
  }
  prefillsPerPrompt(runId: number): number {
    return this.samples.prefillsPerPrompt(runId);
  }
  maxPrefillsPerPrompt(runId?: number): number {
    return this.samples.maxPrefillsPerPrompt(runId);
  }
  prefilledTokens(modelHash: string, contentHash: string, setting: string): number | null {
    return this.samples.prefilledTokens(modelHash, contentHash, setting);
  }

  // ---- evaluations
  hasEvaluation(k: EvaluationKey): boolean {
    return this.evaluations.hasEvaluation(k);
  }
  evaluationStatus(k: EvaluationKey): { status: EvaluationStatus; attempt: number } | null {
    return this.evaluations.evaluationStatus(k);
  }
  completedEvaluationKeys(runId: number): Set<string> {
    return this.evaluations.completedEvaluationKeys(runId);
  }
  evaluationsForRun(runId: number): StoredEvaluation[] {
    return this.evaluations.evaluationsForRun(runId);
  }
  resultAggregates(runId: number): ResultAggregate[] {
    return this.evaluations.resultAggregates(runId);
  }
  fullCacheTokens(sampleId: number, setting: string, modelHash: string): number | null {
    return this.evaluations.fullCacheTokens(sampleId, setting, modelHash);
  }

  // ---- search history
  loadLatestGeneration(runId: number): (GenerationRow & { candidates: CandidateRow[] }) | null {
    return this.search.loadLatestGeneration(runId);
  }
  generations(runId: number): GenerationRow[] {
    return this.search.generations(runId);
  }
  candidates(generationId: number): CandidateRow[] {
    return this.search.candidates(generationId);
  }
  bestCandidate(runId: number): CandidateRow | null {
    return this.search.bestCandidate(runId);
  }
  profiles(runId: number): ProfileRow[] {
    return this.search.profiles(runId);
  }
}

/** Everything: reads and writes over a migrated read-write connection. */
export class SqliteStorage extends SqliteReadOnlyStorage implements Storage {
  /**
   * Opens (creating the parent folder and the file) and migrates to the current schema; with `mustExist`,
   * opens read-only instead (openReadOnly). A database written by a newer kvopt, or a file that is not
   * SQLite, is a KvoptError naming it.
   */
  static open(path: string, opts: SqliteOpenOptions & { mustExist: true }): ReadOnlyStorage;
  static open(path: string, opts?: SqliteOpenOptions): SqliteStorage;
  static open(path: string, opts: SqliteOpenOptions = {}): SqliteStorage | ReadOnlyStorage {
    if (opts.mustExist && path !== ':memory:') return SqliteStorage.openReadOnly(path, opts);
    return new SqliteStorage(openConnection(path, opts));
  }

  /** Runs `fn` in one IMMEDIATE transaction: its writes are whole or absent together (nested calls join it). */
  transaction<T>(fn: () => T): T {
    return this.c.transaction(fn);
  }

  // ---- runs
  createExperiment(name: string): number {
    return this.runs.createExperiment(name);
  }
  createRun(r: NewRun): RunRow {
    return this.runs.createRun(r);
  }
  findResumableRun(configHash: string, kind: RunKind, staleMs?: number): RunRow | null {
    return this.runs.findResumableRun(configHash, kind, staleMs);
  }
  setModelHash(runId: number, modelHash: string): void {
    this.runs.setModelHash(runId, modelHash);
  }
  heartbeat(runId: number): boolean {
    return this.runs.heartbeat(runId);
  }
  discardEmptyRun(runId: number): boolean {
    return this.runs.discardEmptyRun(runId);
  }
  finishRun(runId: number, status: Exclude<RunStatus, 'running'>, error?: string | null): void {
    this.runs.finishRun(runId, status, error);
  }
  markInterrupted(staleMs?: number): number[] {
    return this.runs.markInterrupted(staleMs);
  }
  resumeRun(runId: number, staleMs?: number): RunRow {
    return this.runs.resumeRun(runId, staleMs);
  }

  // ---- samples and prefills
  registerSamples(runId: number, samples: readonly NewSample[]): number[] {
    return this.samples.registerSamples(runId, samples);
  }
  recordPrefill(p: PrefillEvent): void {
    this.samples.recordPrefill(p);
  }

  // ---- evaluations
  insertEvaluation(e: EvaluationRow): InsertOutcome {
    return this.evaluations.insertEvaluation(e);
  }

  // ---- search history
  saveGeneration(g: NewGeneration, candidates: readonly NewCandidate[]): number {
    return this.search.saveGeneration(g, candidates);
  }
  saveProfile(p: NewProfile): void {
    this.search.saveProfile(p);
  }
}
