/**
 * Uniform allocation (SnapKV, kvpress ScorerPress): every KV head of layer l keeps B_l entries, window
 * included. With a per-layer budget vector (a BudgetProfile) this is the "per-layer, uniform per head" case.
 */
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { AllocationInput, Allocator } from '../types.ts';

export const uniformOptions = {} as const satisfies OptionSchema;
export type UniformOptions = OptionsOf<typeof uniformOptions>;

export function uniformAllocator(): Allocator {
  return {
    name: 'uniform',
    needsScores: false,
    allocate: (input: AllocationInput) => input.layerBudgets.map((b) => new Int32Array(input.numKvHeads).fill(Math.min(b, input.T))),
  };
}
