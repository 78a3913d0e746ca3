/**
 * SelfExtend on a loaded model: option checks, the `--self-extend G,W` flag, and the model as the runtime and
 * the engine see it (context extended, identity changed). The attention itself is src/graph/self-extend.ts.
 *
 * Extended context (LongLM README): a relative distance i − j ≥ W becomes ⌊i/G⌋ − ⌊j/G⌋ + W − W/G, which stays
 * within the trained context L while i < (L − W)·G + W. That is the context kvopt allows with SelfExtend on
 * (prompt truncation, the runtime's context checks); the README advises keeping W + (N − W)/G well below L.
 */
import { createHash } from 'node:crypto';
import { KvoptError } from '../util/errors.ts';
import type { LoadedModel, ModelSpec } from './spec.ts';

/** SelfExtend parameters: group size G ≥ 1 and neighbour window W ≥ 1 (tokens). */
export interface SelfExtendOptions {
  group: number;
  window: number;
}

/** Positions usable with SelfExtend on a model trained at `trained` positions: (L − W)·G + W. */
export function selfExtendContext(trained: number, se: SelfExtendOptions): number {
  return (trained - se.window) * se.group + se.window;
}

/** G and W on their own (before the model is known); `where` names the option, e.g. 'model.self_extend'. */
export function checkSelfExtendValues(se: SelfExtendOptions, where: string): void {
  if (!Number.isInteger(se.group) || se.group < 1) throw new KvoptError(`${where}: group G must be an integer >= 1, got ${se.group}`);
  if (!Number.isInteger(se.window) || se.window < 1) throw new KvoptError(`${where}: window W must be an integer >= 1, got ${se.window}`);
}

/**
 * G and W against the model: W must fit in the trained context. RoPE scaling: kvopt loads only the Llama-3
 * scaling, a fixed per-frequency rescale of the angles that does not depend on the position or the input length,
 * so grouped positions go through the same (scaled) frequencies, as in the reference patch that reuses the
 * model's rotary embedding. (A scaling whose angles depend on the sequence length, such as dynamic NTK, would
 * not combine; the loaders refuse every rope_scaling type but llama3, naming rope_scaling, before this runs.)
 */
export function checkSelfExtend(spec: ModelSpec, se: SelfExtendOptions, where: string): void {
  checkSelfExtendValues(se, where);
  const L = spec.maxPositionEmbeddings;
  if (se.window > L) {
    throw new KvoptError(`${where}: window W = ${se.window} is larger than the model's trained context of ${L} positions (expected W <= ${L})`);
  }
}

/** Parses `--self-extend G,W` (e.g. `8,128`). */
export function parseSelfExtendFlag(text: string, flag = '--self-extend'): SelfExtendOptions {
  const m = /^\s*(-?\d+)\s*,\s*(-?\d+)\s*$/.exec(text);
  if (!m) throw new KvoptError(`${flag}: expected G,W (group size and neighbour window, e.g. 8,128), got '${text}'`);
  const se = { group: Number(m[1]), window: Number(m[2]) };
  checkSelfExtendValues(se, flag);
  return se;
}

/** Graph options of a runtime with SelfExtend `se` (null: the plain graph). */
export function selfExtendGraphOptions(se: SelfExtendOptions | null | undefined): { precision: 'fp32'; selfExtend?: SelfExtendOptions } {
  return se ? { precision: 'fp32', selfExtend: se } : { precision: 'fp32' };
}

/** Canonical label, e.g. `selfextend(G=8,W=128)`. */
export function selfExtendLabel(se: SelfExtendOptions): string {
  return `selfextend(G=${se.group},W=${se.window})`;
}

/**
 * The model as seen with SelfExtend on: context (L − W)·G + W, and an identity (weightsHash) of its own, so
 * built graphs, prefill records and stored results of the extended model never mix with the plain model's.
 */
export function withSelfExtend(model: LoadedModel, se: SelfExtendOptions | null | undefined, where: string): LoadedModel {
  if (!se) return model;
  checkSelfExtend(model.spec, se, where);
  return {
    ...model,
    spec: { ...model.spec, maxPositionEmbeddings: selfExtendContext(model.spec.maxPositionEmbeddings, se) },
    weightsHash: createHash('sha256')
      .update(`${model.weightsHash}\n${selfExtendLabel(se)}`)
      .digest('hex'),
  };
}
