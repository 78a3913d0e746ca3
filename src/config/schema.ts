/**
 * The typed experiment configuration (design.md §4.6a is the file contract: extend it, don't rename).
 * Everything here is resolved: defaults filled in, relative paths made absolute against the directory of
 * the YAML file, budgets and methods normalised. `parseExperiment` (load.ts) is the only producer.
 */
import type { SelfExtendOptions } from '../model/self-extend.ts';
import type { UniformBudget } from '../compress/budget.ts';
import type { MethodSpec } from '../compress/types.ts';
import type { Device } from '../runtime/types.ts';
import { OPTIMIZER_KINDS, type OptimizerKind } from '../search/optimizers/index.ts';
import type { TransferMode } from '../search/transfer.ts';

export type Setting = 'question-aware' | 'question-agnostic';
export const SETTINGS: readonly Setting[] = ['question-aware', 'question-agnostic'];

export type Dtype = 'fp32' | 'fp16';
export const DTYPES: readonly Dtype[] = ['fp32', 'fp16'];
export const DEVICES: readonly Device[] = ['cpu', 'cuda', 'webgpu'];

export type OptimizerName = OptimizerKind;
export const OPTIMIZERS: readonly OptimizerName[] = OPTIMIZER_KINDS;

/** Where a search's fitness comes from (algorithms.md §1; issue 5). */
export type FitnessSource = 'task' | 'likelihood' | 'fidelity';
export const FITNESS_SOURCES: readonly FitnessSource[] = ['task', 'likelihood', 'fidelity'];

export type { TransferMode };
export const TRANSFER_MODES: readonly TransferMode[] = ['rescale', 'search'];

/** Task families a config may name; LongBench tasks are `longbench/<dataset>`. */
export const TASK_FAMILIES = ['continuation', 'needle', 'passkey', 'retrieval', 'gsm8k', 'longbench'] as const;
export type TaskFamily = (typeof TASK_FAMILIES)[number];

/** The 21 LongBench v1 datasets (LongBench-E variants add the suffix `_e`). */
export const LONGBENCH_DATASETS = [
  'narrativeqa',
  'qasper',
  'multifieldqa_en',
  'multifieldqa_zh',
  'hotpotqa',
  '2wikimqa',
  'musique',
  'dureader',
  'gov_report',
  'qmsum',
  'multi_news',
  'vcsum',
  'trec',
  'triviaqa',
  'samsum',
  'lsht',
  'passage_count',
  'passage_retrieval_en',
  'passage_retrieval_zh',
  'lcc',
  'repobench-p',
] as const;

/**
 * A method of the config: as written (name and options; `key` is the canonical string stored with every
 * evaluation) and as the compression registry resolved it when the config was read (every option typed and
 * defaulted). Everything downstream uses `resolved`; nothing parses a method again.
 */
export interface ConfiguredMethod {
  name: string;
  options: Record<string, unknown>;
  key: string;
  resolved: MethodSpec;
}

export interface ModelConfig {
  path: string; // absolute
  tokenizer: string | null; // absolute; only llama2.c checkpoints need one
  device: Device;
  /** `device: webgpu!` (or `--device webgpu!`): an unavailable GPU is an error, not a CPU fallback. Not hashed. */
  requireDevice: boolean;
  dtype: Dtype;
  threads: number | null; // intra-op threads; null = onnxruntime's default (all cores)
  /** `self_extend`: SelfExtend variants, null = off; default [null]. Every task runs once per variant. */
  selfExtend: (SelfExtendOptions | null)[];
}

export interface TaskConfig {
  /** As written: `continuation`, `needle`, `passkey`, `retrieval`, `gsm8k` or `longbench/<dataset>`. */
  name: string;
  family: TaskFamily;
  /** LongBench dataset name, null for other families. */
  dataset: string | null;
  data: string; // absolute file or folder
  /** Samples drawn (seeded) from the data; null = all. */
  samples: number | null;
  seed: number;
  /** How many of the drawn samples are kept out of the search fitness and scored for each generation's best. */
  heldout: number;
  /** Task-specific options, passed untouched to the task (which validates them). */
  options: Record<string, unknown>;
  /** The YAML file's directory: a path inside `options` is relative to it (see load.ts resolvePath). */
  baseDir: string;
  /** The SelfExtend variant this task entry runs with (set by taskVariants in config/self-extend.ts). */
  selfExtend?: SelfExtendOptions;
}

export interface SearchConfig {
  /** The inner method the per-layer budgets drive (snapkv in EvolKV). */
  scorer: ConfiguredMethod;
  /** Target mean per-layer budget c, tokens per KV head. */
  budget: number;
  optimizer: OptimizerName;
  groupSize: number;
  sigma0: number;
  /** null = 4 + floor(3 ln n) for a group of n layers. */
  population: number | null;
  /** Optimiser iterations per group. */
  generations: number;
  restarts: number;
  fitness: FitnessSource;
  lambda: number;
  gamma: number;
  seed: number;
  /** Per-layer bounds; null = the search's own default. */
  minBudget: number | null;
  maxBudget: number | null;
  /** Other target budgets the found profile is carried to. */
  transfer: number[];
  transferMode: TransferMode;
}

export interface ExperimentConfig {
  name: string;
  description: string | null;
  model: ModelConfig;
  tasks: TaskConfig[];
  /** `setting:` in the file (one value or a list). */
  settings: Setting[];
  methods: ConfiguredMethod[];
  /** As written (`32`, `0.2`, `{keep: 0.2}`), resolved per sample by the engine. */
  budgets: UniformBudget[];
  search: SearchConfig | null;
  /** null = 'auto' (the engine picks from the model size and cores). */
  workers: number | null;
  /** `queue:` the Redis address of a queued run (src/queue), without a password; null: the local pool. */
  queue: string | null;
  db: string; // absolute
  /** Prefill chunk length, tokens. */
  chunkSize: number;
  /** Observation window w recorded at prefill; every method's `window` option must fit in it. */
  window: number;
  /** Run seed: the default of every task seed and of the search seed. */
  seed: number;
  /** Where the config came from: `file` as the user gave it, `dir` absolute (relative paths resolve here). */
  source: { file: string; dir: string; text: string };
}

/** Canonical string of a budget, stored with every evaluation: `32` or `keep=0.2`. */
export function budgetKey(b: UniformBudget): string {
  return b.kind === 'tokens' ? String(b.tokens) : `keep=${b.keep}`;
}

/** Canonical method string: `full`, `snapkv(kernel=7,pooling=max,window=32)`; option keys sorted. */
export function methodKey(name: string, options: Record<string, unknown>): string {
  const keys = Object.keys(options).sort();
  if (keys.length === 0) return name;
  const fmt = (v: unknown): string => (typeof v === 'string' && /^[A-Za-z0-9_.\-/]+$/.test(v) ? v : JSON.stringify(canonicalValue(v)));
  return `${name}(${keys.map((k) => `${k}=${fmt(options[k])}`).join(',')})`;
}

/** A copy of `v` with object keys sorted at every depth (undefined members dropped), for canonical JSON. */
export function canonicalValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonicalValue);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canonicalValue(x);
    }
    return out;
  }
  return v;
}
