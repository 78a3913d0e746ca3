/** Public API of the compression methods (what the engine calls). */
export { compressPrefill, selectKept } from './compress.ts';
export {
  parseMethod,
  withPyramidSchedule,
  buildMethod,
  methodWindow,
  methodNeedsValueNorms,
  isHeadWise,
  splitMethodList,
  METHODS,
  SCORERS,
  ALLOCATORS,
  QUANTIZERS,
  type MethodInput,
} from './registry.ts';
export { budgetOf, resolveBudget, uniformProfile, type Budget, type UniformBudget } from './budget.ts';
export { pyramidSchedule } from './allocators/pyramid.ts';
export type { CompressedCache, KeptSelection, MethodSpec, Scorer, Allocator, Quantizer, LayerScores, ScoreContext } from './types.ts';
