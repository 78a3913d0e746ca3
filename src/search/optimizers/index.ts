/** Optimiser registry: build one by kind, or restore any from its stored state. */
import { Cmaes, type CmaesOptions } from './cmaes.ts';
import { GeneticAlgorithm, type GaOptions } from './ga.ts';
import { RandomSearch, type RandomSearchOptions } from './random.ts';
import type { Optimizer, OptimizerKind, OptimizerOptions, OptimizerStateJson } from './types.ts';

export type { Optimizer, OptimizerKind, OptimizerOptions, OptimizerStateJson, Bounds, BestPoint } from './types.ts';
export { defaultPopulationSize } from './types.ts';
export { Cmaes, GeneticAlgorithm, RandomSearch };

export const OPTIMIZER_KINDS: readonly OptimizerKind[] = ['cmaes', 'ga', 'random'];

export function createOptimizer(kind: OptimizerKind, options: OptimizerOptions & CmaesOptions & GaOptions & RandomSearchOptions): Optimizer {
  switch (kind) {
    case 'cmaes':
      return new Cmaes(options);
    case 'ga':
      return new GeneticAlgorithm(options);
    case 'random':
      return new RandomSearch(options);
    default:
      throw new Error(`unknown optimizer "${String(kind)}" (expected cmaes | ga | random)`);
  }
}

export function optimizerFromState(state: OptimizerStateJson): Optimizer {
  switch (state?.kind) {
    case 'cmaes':
      return Cmaes.fromState(state);
    case 'ga':
      return GeneticAlgorithm.fromState(state);
    case 'random':
      return RandomSearch.fromState(state);
    default:
      throw new Error(`optimizer state: unknown kind "${String(state?.kind)}"`);
  }
}
