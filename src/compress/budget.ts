/**
 * Budgets (design.md §4.3): tokens kept per KV head per layer, the observation window included.
 * A budget is an integer ≥ 1 (tokens), a number in (0, 1) or { keep: f } (fraction of the context T).
 * Per-layer BudgetProfile files (the bridge to search) are read and written by compress/profile-file.ts.
 */
import { KvoptError } from '../util/errors.ts';

export type BudgetSpec = number | { keep: number };

/** Tokens per KV head for context length T: fractions floor(f·T) (≥ 1); ≥ T means keep everything. */
export function resolveBudget(spec: BudgetSpec, T: number): number {
  if (typeof spec === 'object' && spec !== null && typeof spec.keep === 'number') {
    const f = spec.keep;
    if (!(f > 0 && f <= 1)) throw new KvoptError(`budget keep: ${f}: expected a fraction in (0, 1]`);
    return Math.max(1, Math.floor(f * T + 1e-9));
  }
  if (typeof spec !== 'number' || !Number.isFinite(spec) || spec <= 0) {
    throw new KvoptError(`budget ${JSON.stringify(spec)}: expected a token count (integer ≥ 1), a fraction in (0, 1) or { keep: f }`);
  }
  if (spec < 1) return Math.max(1, Math.floor(spec * T + 1e-9));
  if (!Number.isInteger(spec)) throw new KvoptError(`budget ${spec}: a token count must be an integer (fractions are < 1)`);
  return spec;
}

/** The uniform BudgetProfile: L layers of c tokens. */
export function uniformProfile(L: number, c: number): number[] {
  return new Array<number>(L).fill(c);
}
