/** LongBench rouge_zh_score: jieba segments joined by spaces on both sides, then ROUGE-L F. */
import { jiebaCut } from './jieba.ts';
import { rougeLF, PYTHON_RECON_CALL_LIMIT, type RougeOptions } from './rouge.ts';

export function rougeLFZh(prediction: string, gold: string, opts: RougeOptions = { maxReconCalls: PYTHON_RECON_CALL_LIMIT }): number {
  return rougeLF(jiebaCut(prediction).join(' '), jiebaCut(gold).join(' '), opts);
}
