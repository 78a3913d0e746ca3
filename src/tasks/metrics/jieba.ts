/**
 * Chinese word segmentation for the Chinese LongBench metrics. LongBench calls
 * `jieba.cut(text, cut_all=False)` (accurate mode, HMM on for unknown words); jieba-wasm is jieba-rs
 * (the Rust port, same dictionary and algorithm), `cut(text, hmm=true)` is that mode.
 */
import { cut } from 'jieba-wasm';

export function jiebaCut(text: string): string[] {
  return cut(text, true);
}
