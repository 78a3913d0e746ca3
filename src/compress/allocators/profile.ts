/**
 * Profile allocation: per-layer budgets from a BudgetProfile file (compress/profile-file.ts; written by `kvopt export`),
 * uniform across the heads of a layer. If the requested mean budget differs from the profile's target, the
 * profile is carried to it by EvolKV's transfer (proportional rescaling, completed to the exact mean); a layer
 * budget above T keeps that layer whole.
 * Options: file (required).
 */
import { statSync } from 'node:fs';
import { readProfile, type BudgetProfile } from '../profile-file.ts';
import { transferProfile } from '../../search/transfer.ts';
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { Allocator } from '../types.ts';
import { uniformAllocator } from './uniform.ts';
import { KvoptError } from '../../util/errors.ts';

export const profileOptions = {
  file: { type: 'string', default: undefined, doc: 'BudgetProfile JSON/YAML file' },
} as const satisfies OptionSchema;
export type ProfileOptions = OptionsOf<typeof profileOptions>;

/**
 * Profiles already read, by path and modification time: a method is built for every compression (every
 * item and search candidate), and the file should be read once, not each time.
 */
const readCache = new Map<string, { mtimeMs: number; profile: BudgetProfile }>();

function cachedProfile(file: string): BudgetProfile {
  let mtimeMs = -1;
  try {
    mtimeMs = statSync(file).mtimeMs;
  } catch {
    return readProfile(file); // missing file: readProfile's error names it
  }
  const hit = readCache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit.profile;
  const profile = readProfile(file);
  readCache.set(file, { mtimeMs, profile });
  return profile;
}

export function profileAllocator(opts: ProfileOptions): Allocator {
  const file = opts.file;
  const profile = cachedProfile(file);
  return {
    ...uniformAllocator(),
    name: 'profile',
    layerBudgets(requested: number[], T: number) {
      if (requested.length !== profile.layers.length) {
        throw new KvoptError(`budget profile ${file}: has ${profile.layers.length} layers, the model has ${requested.length}`);
      }
      const mean = requested.reduce((a, b) => a + b, 0) / requested.length;
      const layers = mean === profile.target ? profile.layers : transferProfile(profile.layers, profile.target, mean, { minBudget: 1 });
      return layers.map((b) => Math.min(b, T));
    },
  };
}
