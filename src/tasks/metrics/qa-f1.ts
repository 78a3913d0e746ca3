/** Token-level F1 as in SQuAD / LongBench metrics.py (qa_f1_score, qa_f1_zh_score). */
import { jiebaCut } from './jieba.ts';
import { normalizeAnswer, normalizeZhAnswer, pySplit } from './text.ts';

/**
 * F1 over bags of tokens: common = Σ_t min(count_pred(t), count_gold(t));
 * P = common/|pred|, R = common/|gold|, F1 = 2PR/(P+R); 0 when nothing is shared.
 */
export function tokenF1(pred: string[], gold: string[]): number {
  const counts = new Map<string, number>();
  for (const t of gold) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of pred) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      common++;
      counts.set(t, c - 1);
    }
  }
  if (common === 0) return 0;
  const p = common / pred.length;
  const r = common / gold.length;
  return (2 * p * r) / (p + r);
}

/** qa_f1: normalize_answer, split on whitespace, token F1. */
export function qaF1(prediction: string, gold: string): number {
  return tokenF1(pySplit(normalizeAnswer(prediction)), pySplit(normalizeAnswer(gold)));
}

/** qa_f1_zh: jieba tokens, each normalised by normalize_zh_answer, empty ones dropped, token F1. */
export function qaF1Zh(prediction: string, gold: string): number {
  const toks = (s: string) =>
    jiebaCut(s)
      .map(normalizeZhAnswer)
      .filter((t) => t.length > 0);
  return tokenF1(toks(prediction), toks(gold));
}
