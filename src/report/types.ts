/**
 * Plain-data inputs of the report layer. The store (SQLite) and the engine fill these; the report layer
 * never reads a database or a model itself, so every chart and table can be built from literal rows.
 *
 * Budgets follow design.md §4.3: a budget is tokens kept per KV head per layer, the observation window
 * included. Memory is reported twice: logical entries kept and physical bytes held (padding included).
 */

/** What writeReport can write (kept here, away from the renderer, so the CLI lists them without loading vega). */
export const REPORT_FORMATS = ['html', 'svg', 'png', 'md', 'tex'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** One evaluated (task, method, budget) cell. Scores are as the task's metric reports them (0..1 or 0..100). */
export interface EvalResultRow {
  task: string;
  method: string;
  /** Mean tokens kept per KV head per layer (window included). For a ratio budget, the tokens it came to. */
  budget: number;
  /** The budget as the user wrote it: "64", "20%". Groups rows; shown on tables and axes. */
  budgetLabel: string;
  score: number;
  /** Score of the full (uncompressed) cache on the same task and samples; null when not evaluated. */
  fullScore: number | null;
  /** 1 − score / fullScore (DefensiveKV's definition); null when fullScore is null or 0. */
  qualityLoss: number | null;
  /** Samples the score averages over. */
  n: number;
  /** Logical KV entries kept (one entry = one token of one KV head in one layer), mean per sample; null when not measured. */
  kvEntries: number | null;
  /** Physical bytes of K and V held, padding included, mean per sample; null when not measured. */
  kvBytes: number | null;
  /** Physical bytes the full cache holds on the same samples; null when the full cache was not measured. */
  kvBytesFull: number | null;
  /** 95 % bootstrap interval of the score over samples; absent or null when not computed (n < 2). */
  scoreLo?: number | null;
  scoreHi?: number | null;
  /** 95 % bootstrap interval of the quality loss (pairs resampled). */
  lossLo?: number | null;
  lossHi?: number | null;
}

/** A paired comparison of a method with a reference on the same samples (src/stats). */
export interface PairedRow {
  /** Column it belongs to: task, or split of a search ("held-out"). */
  task: string;
  budgetLabel: string;
  method: string;
  reference: string;
  /** Mean over samples of score − reference score, with its 95 % interval. */
  diff: number;
  lo: number | null;
  hi: number | null;
  wins: number;
  ties: number;
  losses: number;
  n: number;
}

/** One generation of one EvolKV layer group (groups are optimised bottom-up, each with a fresh optimiser). */
export interface SearchGenerationRow {
  group: number;
  generation: number;
  /** Best fitness of the generation on the calibration set. */
  best: number;
  /** Median fitness of the generation's population on the calibration set. */
  median: number;
  /** Fitness of the generation's best candidate on the held-out set; null when not scored. */
  heldoutBest: number | null;
}

/** A per-layer budget profile, with the schedules it is compared against. */
export interface BudgetProfileInput {
  /** Per-layer budgets, length L (tokens per KV head). */
  layerBudgets: number[];
  /** The target mean budget c (the uniform schedule). */
  target: number;
  /** The PyramidKV schedule for the same target, length L, computed by the allocator. */
  pyramid?: number[];
  /** Per-head allocation from a head-wise allocator, [L][Hkv] tokens. */
  headBudgets?: number[][];
  /** What produced the profile, e.g. "evolkv search 12" (shown in the legend). */
  label?: string;
}

/** One needle-in-a-haystack cell. `depth` is the needle position as a fraction of the context, 0..1. */
export interface NeedleCell {
  method: string;
  contextLength: number;
  depth: number;
  /** Retrieval score in 0..1 (ROUGE-1 recall or exact match). */
  score: number;
}

/** One row of the run history. Times are ISO 8601 strings as the store keeps them. */
export interface RunSummary {
  id: number | string;
  kind: string; // search | eval | regress
  name: string;
  status: string; // running | complete | failed | interrupted
  configHash: string;
  bestFitness: number | null;
  startedAt: string;
  finishedAt: string | null;
  durationS: number | null;
}

/** Everything one report shows; each part is optional and its figures are drawn only when present. */
export interface ReportData {
  title?: string;
  run?: RunSummary;
  /** Extra header lines: model, setting, dataset, ... */
  meta?: Record<string, string | number | boolean | null>;
  evalRows?: EvalResultRow[];
  searchGenerations?: SearchGenerationRow[];
  profile?: BudgetProfileInput;
  needle?: NeedleCell[];
  /** budgetLabel of the quality-loss bar chart; default: the smallest budget evaluated. */
  lossBudgetLabel?: string;
  /** Method name of the full cache in evalRows (drawn as the reference, not as a line). Default "full". */
  fullMethod?: string;
  /** Bytes of one logical entry at full precision (K and V: 2 × head_dim × dtype bytes); for the memory chart. */
  bytesPerEntry?: number;
  /** Results tables: decimals of scores (default 2) and whether to add the average over the task columns (default yes). */
  table?: { digits?: number; average?: boolean };
  /** Paired differences from a reference method (eval: --compare-to, default full; search: EvolKV vs uniform/pyramid). */
  paired?: PairedRow[];
  /** What the data source could not provide (e.g. a figure whose inputs are not stored); listed with the figure notes. */
  notes?: string[];
}
