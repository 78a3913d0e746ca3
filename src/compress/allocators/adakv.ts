/**
 * AdaKV head-wise allocation (Feng et al., arXiv 2407.11550), per layer with budget B:
 * 1. one flattened top-k of H_kv·B entries over the scores of all the layer's KV heads (window tokens are
 *    +Infinity, so every head first gets its f_h = w window entries); c_h = the head's share;
 * 2. floor: b_h = f_h + round(c′_h(1 − α) + α·B′_h), c′_h = c_h − f_h, B′_h = B − f_h (the paper's
 *    b_h = round(c_h(1−α) + αB′) on the prefix, window added back); kvopt rounds by largest remainder
 *    (ties → lower head) so Σ_h b_h = H_kv·B exactly instead of "about".
 * Defaults: α = 0.2 (AdaKV pred.py, kvpress alpha_safeguard; the AdaKV README examples use 0.5). α = 0 is the
 * plain head-wise top-k DefensiveKV uses. The scorer is chosen by the method (adakv: SnapKV, window 32,
 * kernel 7, max pooling, GQA mean).
 */
import type { OptionSchema, OptionsOf } from '../options.ts';
import { flatTopCounts, forcedCount, largestRemainder } from '../select.ts';
import type { AllocationInput, Allocator } from '../types.ts';

export const adakvOptions = {
  alpha: { type: 'number', min: 0, max: 1, default: 0.2, doc: 'uniform floor share of every head budget' },
} as const satisfies OptionSchema;
export type AdakvOptions = OptionsOf<typeof adakvOptions>;

/** Head counts for one layer: flattened top-(Hkv·B) shares, then the α floor. */
export function headwiseCounts(scores: Float64Array, Hkv: number, T: number, B: number, alpha: number): Int32Array {
  const b = Math.min(B, T);
  const c = flatTopCounts([scores], Hkv, T, Hkv * b)[0];
  if (alpha === 0) return c;
  const f = Array.from({ length: Hkv }, (_, h) => Math.min(forcedCount(scores, h, T), c[h]));
  const x = Array.from({ length: Hkv }, (_, h) => (c[h] - f[h]) * (1 - alpha) + alpha * Math.max(0, b - f[h]));
  const fixed = f.reduce((a, v) => a + v, 0);
  const prefix = largestRemainder(x, Hkv * b - fixed);
  return Int32Array.from(prefix, (v, h) => Math.min(T, v + f[h]));
}

export function adakvAllocator(opts: AdakvOptions): Allocator {
  const alpha = opts.alpha;
  return {
    name: 'adakv',
    needsScores: true,
    allocate: (input: AllocationInput) => input.scores.map((ls, l) => headwiseCounts(ls.scores, input.numKvHeads, input.T, input.layerBudgets[l], alpha)),
  };
}
