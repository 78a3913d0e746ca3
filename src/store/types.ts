/** Rows the store takes and returns (camelCase views of the tables in migrations.ts). */

export type RunKind = 'eval' | 'search';
export type RunStatus = 'running' | 'complete' | 'failed' | 'interrupted';
export type SampleSplit = 'calibration' | 'heldout' | 'eval';
export type EvaluationStatus = 'ok' | 'failed';

export interface NewRun {
  experiment: string; // created on first use
  kind: RunKind;
  configJson: string;
  configYaml?: string | null;
  configHash: string;
  modelPath: string;
  modelHash?: string | null;
  /** Default: codeVersion() (git describe, else the package version). */
  codeVersion?: string;
  seed: number;
}

export interface RunRow {
  id: number;
  experimentId: number;
  experiment: string;
  kind: RunKind;
  configJson: string;
  configYaml: string | null;
  configHash: string;
  modelPath: string;
  modelHash: string | null;
  codeVersion: string;
  seed: number;
  status: RunStatus;
  startedAt: number; // ms since epoch
  heartbeatAt: number;
  finishedAt: number | null;
  error: string | null;
  pid: number | null;
  host: string | null;
}

export interface RunSummary extends RunRow {
  /** Best calibration fitness over the run's candidates (search), else null. */
  bestFitness: number | null;
  evaluationsOk: number;
  evaluationsFailed: number;
  generations: number;
  /** finished_at (or the last heartbeat) minus started_at, ms. */
  durationMs: number;
}

export interface NewSample {
  task: string;
  /** The sample's identity in its data: line number, `_id`, grid cell ... */
  key: string;
  contentHash: string;
  split: SampleSplit;
}

export interface RunSample extends NewSample {
  id: number;
  position: number;
}

export interface PrefillEvent {
  runId: number | null;
  modelHash: string;
  contentHash: string;
  setting: string;
  window: number;
  tokens: number;
  ms: number;
}

/** The unique key of an evaluation: a resumed run skips what it finds stored under it. */
export interface EvaluationKey {
  runId: number;
  sampleId: number;
  /** Canonical method string (config/schema.ts methodKey). */
  method: string;
  /** Canonical budget spec (budgetKey), or 'full' for the full cache. */
  budget: string;
  setting: string;
}

export interface EvaluationRow extends EvaluationKey {
  methodOptions?: Record<string, unknown>;
  budgetTokens?: number | null;
  budgetProfile?: number[] | null;
  /** Entries kept per layer and KV head ([L][Hkv]); differs across heads for head-wise allocators. */
  headBudgets?: number[][] | null;
  score: number | null;
  metric?: string | null;
  /** Secondary metric values, e.g. {rouge1: 0.4, exact: 0} for a needle, {loglik, top1, kl} for continuation. */
  metrics?: Record<string, number> | null;
  prediction?: string | null;
  answerTokens?: number | null;
  generatedTokens?: number | null;
  prefillMs?: number | null;
  compressMs?: number | null;
  decodeMs?: number | null;
  kvEntries?: number | null;
  kvBytes?: number | null;
  status: EvaluationStatus;
  error?: string | null;
  attempt?: number;
}

export interface StoredEvaluation extends Required<EvaluationRow> {
  id: number;
  task: string;
  sampleKey: string;
  createdAt: number;
}

/** What insertEvaluation did: a new row, a failed row replaced by a later attempt, or nothing. */
export type InsertOutcome = 'inserted' | 'replaced' | 'kept';

/** Counts and means of one cell of the method × budget × task table, as storage aggregates them. */
export interface ResultAggregate {
  method: string;
  budget: string;
  setting: string;
  task: string;
  /** ok evaluations */
  n: number;
  failed: number;
  meanScore: number | null;
  meanBudgetTokens: number | null;
  meanKvEntries: number | null;
  meanKvBytes: number | null;
  /** Mean score over the ok evaluations whose sample also has an ok `full` score in the same setting. */
  pairedScore: number | null;
  /** Mean `full` score (per sample and setting) over those same samples. */
  fullScore: number | null;
}

/** One cell of the method × budget × task table. */
export interface ResultRow extends Omit<ResultAggregate, 'pairedScore'> {
  /** 1 − score/score_full over those paired samples; null without a full evaluation or when full scores 0. */
  qualityLoss: number | null;
  /** Means of the secondary metrics over ok evaluations (e.g. loglik, top1, kl for the continuation task). */
  metrics: Record<string, number>;
}

/** A method × budget × setting row averaged over tasks (each task weighs the same). */
export interface AverageRow {
  method: string;
  budget: string;
  setting: string;
  tasks: number;
  meanScore: number | null;
  /** Mean of the per-task quality losses (tasks without one are left out). */
  qualityLoss: number | null;
}

export interface NewGeneration {
  runId: number;
  group: number;
  generation: number;
  optimizerState: unknown; // JSON-serialisable
  searchState?: unknown;
  bestFitness: number | null;
  medianFitness: number | null;
  bestCandidate?: number | null;
  heldoutScore?: number | null;
  wallMs?: number | null;
  prefillMs?: number | null;
  decodeMs?: number | null;
}

export interface NewCandidate {
  index: number;
  split?: 'calibration' | 'heldout';
  budgets: number[];
  fitness: number | null;
  taskScore: number | null;
  cacheScore: number | null;
  /** Per-sample task scores keyed by sample id. */
  sampleScores?: Record<string, number>;
}

export interface GenerationRow {
  id: number;
  runId: number;
  group: number;
  generation: number;
  optimizerState: unknown;
  searchState: unknown;
  bestFitness: number | null;
  medianFitness: number | null;
  bestCandidate: number | null;
  heldoutScore: number | null;
  wallMs: number | null;
  prefillMs: number | null;
  decodeMs: number | null;
  createdAt: number;
}

export interface CandidateRow {
  id: number;
  generationId: number;
  index: number;
  split: 'calibration' | 'heldout';
  budgets: number[];
  fitness: number | null;
  taskScore: number | null;
  cacheScore: number | null;
  sampleScores: Record<string, number>;
}

export interface NewProfile {
  runId: number;
  budget: number;
  budgets: number[];
  source: 'search' | 'transfer';
  fitness?: number | null;
  calibrationScore?: number | null;
  heldoutScore?: number | null;
}

export interface ProfileRow extends Required<NewProfile> {
  id: number;
  createdAt: number;
}
