/**
 * PyramidKV (Cai et al., arXiv 2406.02069): SnapKV scoring, a linearly decreasing per-layer budget (layer 0
 * largest), uniform across the heads of a layer. With B the mean requested budget and w the scorer's window
 * (algorithms.md §3.2, window included, so B′ = B − w selected prefix tokens per head on average):
 *   min = B′ // β,  max = 2B′ − min;
 *   if max ≥ T − w (layer 0 would need more than the prefix): max = T − w, min = 2B′ − max ('clamp');
 *   x_l = max − l·(max − min)/(L − 1) prefix tokens, plus w.
 * kvopt keeps the schedule real-valued and rounds it by largest remainder so Σ_l x_l = L·B′ exactly: the
 * paper's schedule has a fixed total; KVCache-Factory's integer step (max − min) // (L − 1) under-spends it and
 * kvpress's per-layer round() can miss it by a few tokens.
 * Fallbacks: B ≥ T keeps everything; B′ ≤ 0 or L = 1 is uniform; fallback = 'uniform' adds KVCache-Factory's
 * rule "T < 2(B − w) → uniform SnapKV budget" (the default 'clamp' keeps the pyramid, clamped as above).
 * Defaults: β = 20 (paper, KVCache-Factory, kvpress).
 */
import type { OptionSchema, OptionsOf } from '../options.ts';
import { largestRemainder } from '../select.ts';
import type { Allocator } from '../types.ts';
import { uniformAllocator } from './uniform.ts';

export const pyramidOptions = {
  beta: { type: 'number', min: 1, default: 20, doc: 'top-layer budget = B′ // beta' },
  fallback: { type: 'enum', values: ['clamp', 'uniform'], default: 'clamp', doc: "infeasible pyramid: clamp it, or use KVCache-Factory's uniform rule" },
} as const satisfies OptionSchema;
export type PyramidOptions = OptionsOf<typeof pyramidOptions>;

/** Per-layer budgets (window included) of the pyramid for mean budget B; exported for tests and reports. */
export function pyramidSchedule(L: number, B: number, T: number, w: number, beta: number, fallback: 'clamp' | 'uniform'): number[] {
  const uniform = () => largestRemainder(new Array<number>(L).fill(Math.min(B, T)), Math.round(L * Math.min(B, T)));
  if (B >= T) return new Array<number>(L).fill(T);
  const Bp = B - w;
  if (Bp <= 0 || L === 1) return uniform();
  if (fallback === 'uniform' && T < 2 * Bp) return uniform();
  let min = Math.floor(Bp / beta);
  let max = 2 * Bp - min;
  if (max >= T - w) {
    max = T - w;
    min = 2 * Bp - max;
  }
  const x = Array.from({ length: L }, (_, l) => max - (l * (max - min)) / (L - 1));
  return largestRemainder(x, Math.round(L * Bp)).map((v) => v + w);
}

export function pyramidAllocator(opts: PyramidOptions): Allocator {
  return {
    ...uniformAllocator(),
    name: 'pyramid',
    // The schedule replaces the requested budgets (their mean is the target), then every head of a layer
    // keeps the layer's budget.
    layerBudgets(requested: number[], T: number, window: number) {
      const L = requested.length;
      const B = requested.reduce((a, b) => a + b, 0) / L;
      return pyramidSchedule(L, B, T, window, opts.beta, opts.fallback);
    },
  };
}
