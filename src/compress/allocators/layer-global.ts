/**
 * Layer-global allocation (Layer-DefensiveKV, arXiv 2510.13334 §2 of algorithms.md): one top-k of
 * Σ_l H_kv·B_l (= L·H_kv·B for a uniform budget) over the flattened scores of every layer and KV head; each
 * layer's count n_l is its share, and within the layer the head-wise top-n_l of the same scores gives the
 * per-head counts (the same entries, since the order is one total order). Raw scores are compared across layers.
 * Difference from the reference, on purpose: always-kept entries (window, stage-1) are +Infinity here, so they
 * are kept in every layer; the reference gives them that layer's max score, so a layer whose max is low can lose
 * its own window in the global top-k. No options.
 */
import type { OptionSchema, OptionsOf } from '../options.ts';
import { flatTopCounts } from '../select.ts';
import type { AllocationInput, Allocator } from '../types.ts';

export const layerGlobalOptions = {} as const satisfies OptionSchema;
export type LayerGlobalOptions = OptionsOf<typeof layerGlobalOptions>;

export function layerGlobalAllocator(): Allocator {
  return {
    name: 'layer-global',
    needsScores: true,
    allocate(input: AllocationInput) {
      const n = input.layerBudgets.reduce((a, b) => a + b, 0) * input.numKvHeads;
      return flatTopCounts(
        input.scores.map((s) => s.scores),
        input.numKvHeads,
        input.T,
        n,
      );
    },
  };
}
