/**
 * What the study loop needs from storage, by aggregate: runs (with their leases), samples and prefills,
 * evaluations, and the search history. A second backend (a queue-fed coordinator, a shared Postgres)
 * implements `Storage`; read-only consumers (runs, show, report, export, regress) take a `ReadOnlyStorage`,
 * so a write from them does not compile. The SQLite implementation is `sqlite/storage.ts`;
 * test/store/storage-contract.test.ts checks any implementation against the contracts stated here.
 *
 * Resume relies on three of them: a write is whole or absent after a kill (insertEvaluation, saveGeneration),
 * insertEvaluation never loses an 'ok' row, and completedEvaluationKeys lists exactly the 'ok' rows.
 */
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
} from './types.ts';

/**
 * A run whose heartbeat is older than this (and whose process cannot be checked) is taken as dead.
 * KVOPT_STALE_MS overrides it (tests of a stopped process losing its lease).
 */
export const DEFAULT_STALE_MS = Number(process.env.KVOPT_STALE_MS) > 0 ? Number(process.env.KVOPT_STALE_MS) : 120_000;

/** The full-cache method's canonical name: the reference of quality loss. */
export const FULL_METHOD = 'full';

/** The string form of an evaluation key, for sets of what is stored. */
export function evaluationKeyString(k: Omit<EvaluationKey, 'runId'>): string {
  return `${k.sampleId}\u0000${k.method}\u0000${k.budget}\u0000${k.setting}`;
}

/** Reading runs. */
export interface RunReader {
  /** A run by id, or the newest run ('latest', optionally of one kind). KvoptError naming the store when there is none. */
  getRun(ref: number | 'latest', kind?: RunKind): RunRow;
  /** Whether this process (pid and host) still holds the run: status 'running' under its pid and host. */
  holdsRun(runId: number): boolean;
  /** The newest 'complete' run of `kind` with this config hash, or null. */
  completedRun(configHash: string, kind: RunKind): RunRow | null;
  /** Runs newest first (optionally of one experiment, at most `limit`), with best calibration fitness, counts and duration. */
  listRuns(opts?: { experiment?: string; limit?: number }): RunSummary[];
}

/** Runs and their leases (Optuna's trial states: a 'running' run is held by one process, renewed by heartbeats). */
export interface RunStorage extends RunReader {
  /** The experiment's id, created on first use (the same id for the same name). */
  createExperiment(name: string): number;
  /** A new run in state 'running', held by this process, its experiment created on first use. */
  createRun(r: NewRun): RunRow;
  /**
   * The newest run of `kind` with this config hash that is not 'complete', after markInterrupted(staleMs).
   * A run still held by a live process is returned too (resumeRun then refuses it).
   */
  findResumableRun(configHash: string, kind: RunKind, staleMs?: number): RunRow | null;
  /** Records the weights hash; KvoptError when the run already has a different one (a resumed run must see the same model). */
  setModelHash(runId: number, modelHash: string): void;
  /** Renews this process's lease. False when the lease is lost (another process took the run over): the caller must stop. */
  heartbeat(runId: number): boolean;
  /** Deletes a run that stored no evaluation, generation or profile, so `latest` never names it. Returns whether it did. */
  discardEmptyRun(runId: number): boolean;
  /** Ends a run: 'complete', 'failed' (with the error) or 'interrupted'; it is no longer held. */
  finishRun(runId: number, status: Exclude<RunStatus, 'running'>, error?: string | null): void;
  /**
   * Marks 'interrupted' every 'running' run not held by this process whose process is gone: its pid is dead on
   * this host, or its heartbeat is older than `staleMs`. Returns their ids.
   */
  markInterrupted(staleMs?: number): number[];
  /**
   * Takes a run over to continue it under the same id: it becomes 'running', held by this process, error and
   * finish time cleared. KvoptError for a 'complete' run and for one another live process holds.
   */
  resumeRun(runId: number, staleMs?: number): RunRow;
}

/** Reading a run's samples and prefill events. */
export interface SampleReader {
  /** The run's samples in registration order (position 0, 1, ...). */
  samplesForRun(runId: number): RunSample[];
  /** Prefills computed, for one run or for the whole store. */
  prefillCount(runId?: number): number;
  /** Mean prompt length (tokens, rounded) over the distinct prompts the run prefilled; null without prefill events. */
  meanPrefillTokens(runId: number): number | null;
  /** Prefills of the run per distinct prompt (model, content, setting, window) prefilled: 1 when none was prefilled twice, 0 when none was. */
  prefillsPerPrompt(runId: number): number;
  /** The most times any one prompt was prefilled, in one run or in the whole store (1 = prefill once held). */
  maxPrefillsPerPrompt(runId?: number): number;
  /** The longest prompt (tokens) prefilled for this model, content and setting in any run; null when none was. */
  prefilledTokens(modelHash: string, contentHash: string, setting: string): number | null;
}

/** A run's samples (shared across runs by content) and the prefills it computed. */
export interface SampleStorage extends SampleReader {
  /**
   * Registers the run's samples in order and returns their ids: a sample is one row per (task, key, content
   * hash) shared by runs; a sample already in the run keeps its position (its split is updated). Idempotent.
   */
  registerSamples(runId: number, samples: readonly NewSample[]): number[];
  /** Records one prefill actually computed (a cache miss, not a reuse). */
  recordPrefill(p: PrefillEvent): void;
}

/** Reading evaluations. */
export interface EvaluationReader {
  /** True when an 'ok' evaluation is stored under the key (a failed one does not count). */
  hasEvaluation(k: EvaluationKey): boolean;
  /** The status and attempt stored under the key, or null. */
  evaluationStatus(k: EvaluationKey): { status: EvaluationStatus; attempt: number } | null;
  /** evaluationKeyString of every 'ok' evaluation of the run and of nothing else: what a resumed run skips. */
  completedEvaluationKeys(runId: number): Set<string>;
  /** Every evaluation of the run (ok and failed), ordered by task, sample id, method, budget, setting. */
  evaluationsForRun(runId: number): StoredEvaluation[];
  /**
   * Per method × budget × setting × task: counts and means over the 'ok' evaluations, plus the paired means
   * quality loss needs (stats/quality.ts). Rows: `full` first, then by method, mean budget tokens, budget,
   * setting, task.
   */
  resultAggregates(runId: number): ResultAggregate[];
  /** The largest budget_tokens of an ok `full` evaluation of the sample in `setting` by any run of this model; null when none. */
  fullCacheTokens(sampleId: number, setting: string, modelHash: string): number | null;
}

/** Evaluations, one per (run, sample, method, budget, setting). */
export interface EvaluationStorage extends EvaluationReader {
  /**
   * Stores an evaluation, idempotent on its key, whole or not at all: an 'ok' row is never overwritten ('kept');
   * a 'failed' row is replaced ('replaced') by an 'ok' one or by a failed one of a higher attempt (attempt
   * defaults to 1); anything else is 'kept'. A new key is 'inserted'.
   */
  insertEvaluation(e: EvaluationRow): InsertOutcome;
}

/** Reading the search history. */
export interface SearchReader {
  /** The last stored generation (highest group, then generation) with its candidates; null when none. */
  loadLatestGeneration(runId: number): (GenerationRow & { candidates: CandidateRow[] }) | null;
  /** All generations of the run, by group then generation. */
  generations(runId: number): GenerationRow[];
  /** A generation's candidates, calibration before held-out, by index. */
  candidates(generationId: number): CandidateRow[];
  /** The run's best calibration candidate (highest finite fitness; the earliest group, generation, index on ties); null when none. */
  bestCandidate(runId: number): CandidateRow | null;
  /** The run's profiles by target budget. */
  profiles(runId: number): ProfileRow[];
}

/** The search history: generations with their candidates and optimiser state, and the profiles found. */
export interface SearchStorage extends SearchReader {
  /**
   * Stores a generation, its candidates and the optimiser state after it atomically: after a kill, or an
   * error, the generation is whole or absent. Storing the same (run, group, generation) twice is a KvoptError,
   * and candidates repeating an (index, split) are refused; either stores nothing. Returns the generation's id.
   */
  saveGeneration(g: NewGeneration, candidates: readonly NewCandidate[]): number;
  /** Stores the run's profile for one target budget, replacing one stored before. */
  saveProfile(p: NewProfile): void;
}

/** What every handle has. */
export interface StorageHandle {
  /** Where the data is (a file path for SQLite), for messages. */
  readonly path: string;
  close(): void;
}

/** Only reads: what runs, show, report, export and regress get. */
export interface ReadOnlyStorage extends StorageHandle, RunReader, SampleReader, EvaluationReader, SearchReader {}

/** Everything the study loop reads and writes. */
export interface Storage extends StorageHandle, RunStorage, SampleStorage, EvaluationStorage, SearchStorage {}
