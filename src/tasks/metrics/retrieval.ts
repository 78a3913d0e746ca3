/**
 * LongBench retrieval_score / retrieval_zh_score / count_score: the fraction of all integers in the
 * prediction that equal the target number (0 when the prediction has no integer).
 */
import { pyFindDigitRuns } from './text.ts';

/** Fraction of digit runs in `prediction` equal (as strings) to `target`; 0 if there are none. */
export function numberFraction(prediction: string, target: string): number {
  const nums = pyFindDigitRuns(prediction);
  if (nums.length === 0) return 0;
  return nums.filter((n) => n === target).length / nums.length;
}

/** Gold "Paragraph N" → fraction of integers in the prediction equal to N. No id in the gold: 0. */
export function retrievalScore(prediction: string, gold: string): number {
  const m = /Paragraph (\p{Nd}+)/u.exec(gold);
  return m ? numberFraction(prediction, m[1]) : 0;
}

/** Gold "段落N" → as retrievalScore. */
export function retrievalZhScore(prediction: string, gold: string): number {
  const m = /段落(\p{Nd}+)/u.exec(gold);
  return m ? numberFraction(prediction, m[1]) : 0;
}

/** passage_count: fraction of integers in the prediction equal to the gold count. */
export function countScore(prediction: string, gold: string): number {
  return numberFraction(prediction, String(gold));
}
