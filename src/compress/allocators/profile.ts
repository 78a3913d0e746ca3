/**
 * Profile allocation: per-layer budgets from a BudgetProfile file (search/profile.ts; written by `kvopt export`),
 * uniform across the heads of a layer. If the requested mean budget differs from the profile's target, the
 * profile is carried to it by EvolKV's transfer (proportional rescaling, completed to the exact mean); a layer
 * budget above T keeps that layer whole.
 * Options: file (required).
 */
import { readProfile } from '../../search/profile.ts';
import { transferProfile } from '../../search/transfer.ts';
import type { OptionSchema } from '../options.ts';
import type { AllocationInput, Allocator } from '../types.ts';
import { KvoptError } from '../../util/errors.ts';

export const profileOptions: OptionSchema = {
  file: { type: 'string', default: undefined, doc: 'BudgetProfile JSON/YAML file' },
};

export function profileAllocator(opts: Record<string, unknown>): Allocator {
  const file = opts.file as string;
  const profile = readProfile(file);
  return {
    name: 'profile',
    needsScores: false,
    layerBudgets(requested: number[], T: number) {
      if (requested.length !== profile.layers.length) {
        throw new KvoptError(`budget profile ${file}: has ${profile.layers.length} layers, the model has ${requested.length}`);
      }
      const mean = requested.reduce((a, b) => a + b, 0) / requested.length;
      const layers = mean === profile.target ? profile.layers : transferProfile(profile.layers, profile.target, mean, { minBudget: 1 });
      return layers.map((b) => Math.min(b, T));
    },
    allocate: (input: AllocationInput) =>
      input.layerBudgets.map((b) => new Int32Array(input.numKvHeads).fill(Math.min(b, input.T))),
  };
}
