/**
 * Scoring a predictions file in LongBench's own output format (one JSON per line with `pred`, `answers`,
 * `all_classes`, `length`), as eval.py does: first-line rule, max over answers, round(100·mean, 2), and
 * optionally the LongBench-E length buckets.
 */
import { KvoptError } from '../util/errors.ts';
import { fieldNumber, fieldString, fieldStringArray, fieldStringArrayOrNull, readJsonl } from './jsonl.ts';
import { isLongBenchDataset, LONGBENCH_DATASET_NAMES, LONGBENCH_DATASETS } from './longbench-config.ts';
import { postprocessLongBench } from './longbench.ts';
import { bucketScores, datasetScore, type LengthBucket } from './metrics/aggregate.ts';
import { scorePrediction } from './metrics/index.ts';

export interface PredictionsScore {
  dataset: string;
  file: string;
  samples: number;
  /** round(100 · mean sample score, 2) */
  score: number;
  /** LongBench-E buckets (only when asked); null for an empty bucket */
  buckets?: Record<LengthBucket, number | null>;
  /** per-sample scores in [0, 1], in file order */
  sampleScores: number[];
}

export function scoreLongBenchPredictions(file: string, dataset: string, opts: { buckets?: boolean } = {}): PredictionsScore {
  if (!isLongBenchDataset(dataset)) {
    throw new KvoptError(`--dataset: unknown LongBench dataset "${dataset}" (expected one of ${LONGBENCH_DATASET_NAMES.join(', ')})`);
  }
  const cfg = LONGBENCH_DATASETS[dataset];
  const rows = readJsonl(file);
  if (rows.length === 0) throw new KvoptError(`${file}: no predictions (the file has no JSON lines)`);
  const scores: number[] = [];
  const lengths: number[] = [];
  for (const { line, value } of rows) {
    const pred = fieldString(file, line, value, 'pred');
    const answers = fieldStringArray(file, line, value, 'answers');
    const allClasses = fieldStringArrayOrNull(file, line, value, 'all_classes');
    if (cfg.metric === 'classification' && !allClasses) {
      throw new KvoptError(`${file}:${line}: field "all_classes" must be a list of strings for ${dataset}`);
    }
    if (opts.buckets) lengths.push(fieldNumber(file, line, value, 'length'));
    scores.push(scorePrediction(cfg.metric, postprocessLongBench(dataset, pred), answers, allClasses));
  }
  const result: PredictionsScore = { dataset, file, samples: scores.length, score: datasetScore(scores)!, sampleScores: scores };
  if (opts.buckets) result.buckets = bucketScores(scores, lengths);
  return result;
}
