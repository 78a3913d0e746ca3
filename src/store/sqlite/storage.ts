/**
 * kvopt's SQLite storage: the aggregate modules (runs, samples, evaluations, search) over one shared
 * connection (connection.ts), composed into the one `Storage` the study loop takes. Opened read-only, it is
 * handed out as a `ReadOnlyStorage`, and SQLite itself refuses writes on that connection.
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

export class SqliteStorage implements Storage {
  private readonly runs: SqliteRuns;
  private readonly samples: SqliteSamples;
  private readonly evaluations: SqliteEvaluations;
  private readonly search: SqliteSearch;

  private constructor(private readonly c: SqliteConnection) {
    this.runs = new SqliteRuns(c);
    this.samples = new SqliteSamples(c);
    this.evaluations = new SqliteEvaluations(c);
    this.search = new SqliteSearch(c);
  }

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

  /** An existing database at the current schema, read-only: nothing is created, migrated or written (not even an empty file). */
  static openReadOnly(path: string, opts: OpenOptions = {}): ReadOnlyStorage {
    return new SqliteStorage(openReadOnlyConnection(path, opts));
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

  /** Runs `fn` in one IMMEDIATE transaction: its writes are whole or absent together (nested calls join it). */
  transaction<T>(fn: () => T): T {
    return this.c.transaction(fn);
  }

  schemaVersion(): number {
    return schemaVersion(this.c.db);
  }

  // ---- runs
  createExperiment(name: string): number {
    return this.runs.createExperiment(name);
  }
  createRun(r: NewRun): RunRow {
    return this.runs.createRun(r);
  }
  getRun(ref: number | 'latest', kind?: RunKind): RunRow {
    return this.runs.getRun(ref, kind);
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
  holdsRun(runId: number): boolean {
    return this.runs.holdsRun(runId);
  }
  completedRun(configHash: string, kind: RunKind): RunRow | null {
    return this.runs.completedRun(configHash, kind);
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
  listRuns(opts?: { experiment?: string; limit?: number }): RunSummary[] {
    return this.runs.listRuns(opts);
  }

  // ---- samples and prefills
  registerSamples(runId: number, samples: readonly NewSample[]): number[] {
    return this.samples.registerSamples(runId, samples);
  }
  samplesForRun(runId: number): RunSample[] {
    return this.samples.samplesForRun(runId);
  }
  recordPrefill(p: PrefillEvent): void {
    this.samples.recordPrefill(p);
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
  insertEvaluation(e: EvaluationRow): InsertOutcome {
    return this.evaluations.insertEvaluation(e);
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
  saveGeneration(g: NewGeneration, candidates: readonly NewCandidate[]): number {
    return this.search.saveGeneration(g, candidates);
  }
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
  saveProfile(p: NewProfile): void {
    this.search.saveProfile(p);
  }
  profiles(runId: number): ProfileRow[] {
    return this.search.profiles(runId);
  }
}
