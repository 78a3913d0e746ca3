/** Keep everything (the `full` method and plain KIVI): every head of every layer keeps all T tokens. */
import type { OptionSchema } from '../options.ts';
import type { AllocationInput, Allocator } from '../types.ts';

export const allOptions: OptionSchema = {};

export function allAllocator(): Allocator {
  return {
    name: 'all',
    needsScores: false,
    allocate: (input: AllocationInput) => input.layerBudgets.map(() => new Int32Array(input.numKvHeads).fill(input.T)),
  };
}
