/**
 * Budget transfer (EvolKV "Sec. 3.2 / Fig. 4b" as read in the reproduction, algorithms.md §1): a profile found
 * at target c is reused at other targets c' by proportional rescaling b_i = k_i·c'/c, then completed to the
 * exact target (bounds + largest remainder), "without further optimisation". The alternative ("direct") is to
 * search again at each budget; transferPlan() spells out which targets need which.
 */
import { KvoptError } from '../util/errors.ts';
import { completeBudget, type BudgetBounds } from './budget.ts';

/** b_i = k_i·c'/c, completed to mean c' exactly within the bounds. */
export function transferProfile(profile: readonly number[], fromTarget: number, toTarget: number, bounds: BudgetBounds): number[] {
  if (!(fromTarget > 0)) throw new KvoptError(`transfer: source target must be > 0, got ${fromTarget}`);
  if (!(toTarget > 0)) throw new KvoptError(`transfer: target must be > 0, got ${toTarget}`);
  const scaled = profile.map((k) => (k * toTarget) / fromTarget);
  return completeBudget(scaled, toTarget, bounds);
}

export type TransferMode = 'rescale' | 'search';

export interface TransferStep {
  target: number;
  /** 'source': the searched profile itself; 'rescale': transferProfile() from the source; 'search': run EvolKV again at this target. */
  action: 'source' | 'rescale' | 'search';
  /** For 'rescale': the target the profile comes from. */
  from?: number;
}

/**
 * What to do for each requested target. mode 'rescale' (the paper's main protocol): search once at
 * sourceTarget, rescale to the others. mode 'search' (the "direct" variant): a separate search per target.
 * Targets are de-duplicated and sorted ascending; sourceTarget is always included.
 */
export function transferPlan(sourceTarget: number, targets: readonly number[], mode: TransferMode): TransferStep[] {
  if (mode !== 'rescale' && mode !== 'search') throw new KvoptError(`transfer: mode must be rescale | search, got ${String(mode)}`);
  const all = [...new Set([sourceTarget, ...targets])].sort((a, b) => a - b);
  for (const t of all) if (!(t > 0)) throw new KvoptError(`transfer: every target must be > 0, got ${t}`);
  return all.map((target) => {
    if (target === sourceTarget) return { target, action: mode === 'rescale' ? 'source' : 'search' };
    return mode === 'rescale' ? { target, action: 'rescale', from: sourceTarget } : { target, action: 'search' };
  });
}
