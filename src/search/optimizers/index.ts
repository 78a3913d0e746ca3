/** Optimiser registry: build one by kind, or restore any from its stored state. Adding one = one file + one line here. */
import { Cmaes, type CmaesOptions } from './cmaes.ts';
import { type GaOptions, GeneticAlgorithm } from './ga.ts';
import { RandomSearch, type RandomSearchOptions } from './random.ts';
import type { Optimizer, OptimizerKind, OptimizerOptions, OptimizerStateJson } from './types.ts';

export type { BestPoint, Bounds, Optimizer, OptimizerKind, OptimizerOptions, OptimizerStateJson } from './types.ts';
export { defaultPopulationSize } from './sampler.ts';
export { Cmaes, GeneticAlgorithm, RandomSearch };

/** Every optimiser's options (each reads the common ones and its own). */
export type AnyOptimizerOptions = OptimizerOptions & CmaesOptions & GaOptions & RandomSearchOptions;

interface OptimizerEntry {
  create(options: AnyOptimizerOptions): Optimizer;
  fromState(state: OptimizerStateJson): Optimizer;
}

const OPTIMIZERS: Record<OptimizerKind, OptimizerEntry> = {
  cmaes: { create: (o) => new Cmaes(o), fromState: Cmaes.fromState },
  ga: { create: (o) => new GeneticAlgorithm(o), fromState: GeneticAlgorithm.fromState },
  random: { create: (o) => new RandomSearch(o), fromState: RandomSearch.fromState },
};

export const OPTIMIZER_KINDS = Object.keys(OPTIMIZERS) as readonly OptimizerKind[];

function entry(kind: unknown, what: string): OptimizerEntry {
  if (typeof kind === 'string' && Object.hasOwn(OPTIMIZERS, kind)) return OPTIMIZERS[kind as OptimizerKind];
  throw new Error(`${what} "${String(kind)}" (expected ${OPTIMIZER_KINDS.join(' | ')})`);
}

export function createOptimizer(kind: OptimizerKind, options: AnyOptimizerOptions): Optimizer {
  return entry(kind, 'unknown optimizer').create(options);
}

export function optimizerFromState(state: OptimizerStateJson): Optimizer {
  return entry(state?.kind, 'optimizer state: unknown kind').fromState(state);
}
