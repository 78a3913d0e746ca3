/**
 * Metric registry: name → per-sample score in [0, 1]. For the LongBench metrics a sample's score is the
 * max over its gold answers (eval.py); the RULER string-match scores look at all references at once.
 */
import { classificationScore } from './classification.ts';
import { codeSimScore } from './code-sim.ts';
import { exactAnswerMatch, extractFlexible, extractStrict, numericMatch } from './numeric.ts';
import { qaF1, qaF1Zh } from './qa-f1.ts';
import { countScore, retrievalScore, retrievalZhScore } from './retrieval.ts';
import { rouge1F, rougeLF } from './rouge.ts';
import { rougeLFZh } from './rouge-zh.ts';
import { exactMatch, stringMatchAll, stringMatchPart, substringMatch } from './string-match.ts';

export type MetricName =
  | 'qa_f1'
  | 'qa_f1_zh'
  | 'rouge'
  | 'rouge_zh'
  | 'classification'
  | 'retrieval'
  | 'retrieval_zh'
  | 'count'
  | 'code_sim'
  | 'string_match_all'
  | 'string_match_part'
  | 'exact_match'
  | 'substring_match'
  | 'rouge1'
  | 'gsm8k_strict'
  | 'gsm8k_flexible'
  /** the same extractions compared as numbers ("72.0" = "72"): GSM8K `match: numeric` */
  | 'gsm8k_strict_numeric'
  | 'gsm8k_flexible_numeric'
  /** continuation task: scored from logits (metrics/logits.ts), not from text */
  | 'loglik';

export const METRIC_NAMES: readonly MetricName[] = [
  'qa_f1',
  'qa_f1_zh',
  'rouge',
  'rouge_zh',
  'classification',
  'retrieval',
  'retrieval_zh',
  'count',
  'code_sim',
  'string_match_all',
  'string_match_part',
  'exact_match',
  'substring_match',
  'rouge1',
  'gsm8k_strict',
  'gsm8k_flexible',
  'gsm8k_strict_numeric',
  'gsm8k_flexible_numeric',
  'loglik',
];

export function isMetricName(s: string): s is MetricName {
  return (METRIC_NAMES as readonly string[]).includes(s);
}

type PairMetric = (prediction: string, gold: string, allClasses: readonly string[]) => number;

const PAIR_METRICS: Partial<Record<MetricName, PairMetric>> = {
  qa_f1: (p, g) => qaF1(p, g),
  qa_f1_zh: (p, g) => qaF1Zh(p, g),
  rouge: (p, g) => rougeLF(p, g),
  rouge_zh: (p, g) => rougeLFZh(p, g),
  classification: (p, g, c) => classificationScore(p, g, c),
  retrieval: (p, g) => retrievalScore(p, g),
  retrieval_zh: (p, g) => retrievalZhScore(p, g),
  count: (p, g) => countScore(p, g),
  code_sim: (p, g) => codeSimScore(p, g),
  exact_match: (p, g) => exactMatch(p, g),
  substring_match: (p, g) => substringMatch(p, g),
  rouge1: (p, g) => rouge1F(p, g),
  gsm8k_strict: (p, g) => exactAnswerMatch(extractStrict(p), g),
  gsm8k_flexible: (p, g) => exactAnswerMatch(extractFlexible(p), g),
  gsm8k_strict_numeric: (p, g) => numericMatch(extractStrict(p), g),
  gsm8k_flexible_numeric: (p, g) => numericMatch(extractFlexible(p), g),
};

/**
 * Score of one prediction against its gold answers, in [0, 1].
 * `allClasses` is required by 'classification' (LongBench all_classes).
 */
export function scorePrediction(metric: MetricName, prediction: string, answers: readonly string[], allClasses: readonly string[] | null = null): number {
  if (metric === 'string_match_all') return stringMatchAll(prediction, answers);
  if (metric === 'string_match_part') return stringMatchPart(prediction, answers);
  const fn = PAIR_METRICS[metric];
  if (!fn) throw new Error(`metric ${metric} is not a text metric`);
  if (metric === 'classification' && !allClasses) throw new Error('classification needs all_classes');
  let best = 0;
  for (const gold of answers) best = Math.max(best, fn(prediction, gold, allClasses ?? []));
  return best;
}
