/** Dataset-level aggregation as LongBench eval.py does it. */
import { pyRound2 } from './text.ts';

/** round(100 · mean, 2); null for no scores (numpy gives nan there). */
export function datasetScore(scores: readonly number[]): number | null {
  if (scores.length === 0) return null;
  let s = 0;
  for (const x of scores) s += x;
  return pyRound2((100 * s) / scores.length);
}

export type LengthBucket = '0-4k' | '4-8k' | '8k+';

/** LongBench-E bucket of a sample `length` (words or characters): < 4000, < 8000, else 8k+. */
export function lengthBucket(length: number): LengthBucket {
  return length < 4000 ? '0-4k' : length < 8000 ? '4-8k' : '8k+';
}

/** Per-bucket dataset scores (LongBench-E); empty buckets are null. */
export function bucketScores(scores: readonly number[], lengths: readonly number[]): Record<LengthBucket, number | null> {
  const b: Record<LengthBucket, number[]> = { '0-4k': [], '4-8k': [], '8k+': [] };
  scores.forEach((s, i) => b[lengthBucket(lengths[i])].push(s));
  // scorer_e computes round(100 * np.mean(scores), 2): mean first, then × 100.
  const score = (xs: number[]) => (xs.length === 0 ? null : pyRound2(100 * (xs.reduce((a, x) => a + x, 0) / xs.length)));
  return { '0-4k': score(b['0-4k']), '4-8k': score(b['4-8k']), '8k+': score(b['8k+']) };
}
