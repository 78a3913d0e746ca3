/** Keep everything (the `full` method and plain KIVI): every head of every layer keeps all T tokens. */
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { AllocationInput, Allocator } from '../types.ts';

export const allOptions = {} as const satisfies OptionSchema;
export type AllOptions = OptionsOf<typeof allOptions>;

export function allAllocator(): Allocator {
  return {
    name: 'all',
    needsScores: false,
    allocate: (input: AllocationInput) => input.layerBudgets.map(() => new Int32Array(input.numKvHeads).fill(input.T)),
  };
}
