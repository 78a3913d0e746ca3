/**
 * Budgets (design.md §4.3): tokens kept per KV head per layer, the observation window included.
 * One type from the config loader (and the flags, which go through it) down to the compression: a token
 * count, a fraction of the context T, or an explicit per-layer profile (a search's candidates).
 * Per-layer BudgetProfile files (the bridge to search) are read and written by compress/profile-file.ts.
 */
import { KvoptError } from '../util/errors.ts';

export type Budget = { kind: 'tokens'; tokens: number } | { kind: 'fraction'; keep: number } | { kind: 'profile'; layers: number[] };
/** The same number of tokens in every layer (what a config's `budgets:` lists). */
export type UniformBudget = Exclude<Budget, { kind: 'profile' }>;

/** A budget written as a number: an integer ≥ 1 is tokens, a number in (0, 1) a fraction; anything else is none (null). */
export function budgetOf(v: number): UniformBudget | null {
  if (Number.isInteger(v) && v >= 1) return { kind: 'tokens', tokens: v };
  if (v > 0 && v < 1) return { kind: 'fraction', keep: v };
  return null;
}

/** Tokens per KV head for context length T: fractions floor(f·T) (≥ 1); ≥ T means keep everything. */
export function resolveBudget(b: UniformBudget, T: number): number {
  if (b.kind === 'fraction') {
    if (!(b.keep > 0 && b.keep <= 1)) throw new KvoptError(`budget keep: ${b.keep}: expected a fraction in (0, 1]`);
    return Math.max(1, Math.floor(b.keep * T + 1e-9));
  }
  if (!Number.isInteger(b.tokens) || b.tokens < 1) throw new KvoptError(`budget ${b.tokens}: expected a token count (integer ≥ 1)`);
  return b.tokens;
}

/** The uniform BudgetProfile: L layers of c tokens. */
export function uniformProfile(L: number, c: number): number[] {
  return new Array<number>(L).fill(c);
}
