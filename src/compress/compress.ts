/**
 * compressPrefill: PrefillRecord + method + per-layer budgets → CompressedCache (design.md §2).
 * Pipeline: clamp budgets to T (all ≥ T: the full cache, bit for bit) ▸ allocator's budget rewrite (profile)
 * ▸ score every layer (only when the allocator needs scores or a layer is compressed) ▸ per-head counts ▸
 * per-head selection (select.ts) ▸ gather + pad (cache.ts) ▸ optional quantiser.
 * selectKept stops after the selection: on WebGPU the gather runs on the device (runtime/device-gather.ts).
 */
import type { ModelSpec, ModelWeights } from '../model/spec.ts';
import type { PrefillRecord } from '../runtime/types.ts';
import { KvoptError } from '../util/errors.ts';
import { gatherLayer, paddedLayerBytes } from './cache.ts';
import { buildMethod, type MethodInput, resolveMethod } from './registry.ts';
import { selectHead } from './select.ts';
import type { CompressedCache, KeptSelection, LayerScores, MethodSpec, Quantizer, ScoreCache } from './types.ts';

const recordCaches = new WeakMap<PrefillRecord, ScoreCache>();

/** The score cache that lives as long as `record` (a search reuses a worker's record every generation). */
export function recordScoreCache(record: PrefillRecord): ScoreCache {
  let c = recordCaches.get(record);
  if (!c) {
    c = new Map();
    recordCaches.set(record, c);
  }
  return c;
}

export function compressPrefill(
  record: PrefillRecord,
  spec: ModelSpec,
  weights: ModelWeights,
  method: MethodSpec | MethodInput,
  layerBudgets: number[],
  /**
   * Scores computed for this record, shared across calls: every candidate and budget scores each layer once when
   * the scorer's scores do not depend on the budget, and prepares a budget-dependent scorer's layer once.
   * Default: the record's own cache (kept as long as the record).
   */
  scoreCache: ScoreCache = recordScoreCache(record),
): CompressedCache {
  const { selection, quantizer } = select(record, spec, weights, method, layerBudgets, scoreCache);
  const hd = spec.headDim;
  let physicalBytes = 0;
  const layers = record.cache.layers.map((full, l) => {
    const layer = gatherLayer(full, selection.kept[l], hd);
    const lengths = Int32Array.from(selection.kept[l], (k) => k.length);
    physicalBytes += quantizer ? quantizer.quantizeLayer(layer, lengths, hd) : paddedLayerBytes(lengths, hd);
    return layer;
  });
  return { ...selection, layers, nextPosition: record.tokens.length, physicalBytes };
}

/**
 * What compressPrefill keeps, without gathering it: the kept positions per layer and head and the figures of the
 * cache they make (physicalBytes: padded fp32). Only for methods without a quantiser (the quantiser rewrites the
 * gathered host arrays; such methods go through compressPrefill).
 */
export function selectKept(
  record: PrefillRecord,
  spec: ModelSpec,
  weights: ModelWeights,
  method: MethodSpec | MethodInput,
  layerBudgets: number[],
  scoreCache: ScoreCache = recordScoreCache(record),
): KeptSelection {
  const { selection, quantizer } = select(record, spec, weights, method, layerBudgets, scoreCache);
  if (quantizer) throw new Error(`internal: selectKept of the quantised method ${selection.method}; use compressPrefill`);
  return selection;
}

function select(
  record: PrefillRecord,
  spec: ModelSpec,
  weights: ModelWeights,
  method: MethodSpec | MethodInput,
  layerBudgets: number[],
  scoreCache: ScoreCache,
): { selection: KeptSelection; quantizer: Quantizer | null } {
  const m = resolveMethod(method);
  const { scorer, allocator, quantizer } = buildMethod(m);
  const T = record.tokens.length;
  const L = spec.numLayers;
  const Hkv = spec.numKvHeads;
  if (layerBudgets.length !== L) throw new KvoptError(`method ${m.label}: ${layerBudgets.length} layer budgets for a model of ${L} layers`);
  layerBudgets.forEach((b, l) => {
    if (!Number.isInteger(b) || b < 0) throw new KvoptError(`method ${m.label}: layer ${l} budget ${b}: expected a non-negative integer`);
  });

  const keepAll = allocator.name === 'all' || layerBudgets.every((b) => b >= T);
  let budgets = layerBudgets.map((b) => Math.min(b, T));
  let counts: Int32Array[];
  let scores: LayerScores[] = [];
  if (keepAll) {
    budgets = budgets.map(() => T);
    counts = budgets.map(() => new Int32Array(Hkv).fill(T));
  } else {
    const window = Math.min(scorer.window, T);
    if (allocator.layerBudgets) budgets = allocator.layerBudgets(budgets, T, window);
    const ctx = { record, spec, weights, layerBudgets: budgets };
    const scorerKey = `${m.scorer.name}${JSON.stringify(m.scorer.options)}`;
    const memo = <V>(key: string, make: () => V): V => {
      if (scoreCache.has(key)) return scoreCache.get(key) as V;
      const v = make();
      scoreCache.set(key, v);
      return v;
    };
    const scoreLayer = (l: number): LayerScores =>
      memo(`${scorerKey}|${l}|${scorer.usesBudget ? budgets[l] : ''}`, () => {
        const prepared = scorer.prepare ? memo(`${scorerKey}|${l}|prepared`, () => scorer.prepare!(ctx, l)) : undefined;
        return checked(scorer.score(ctx, l, prepared), m.label, l);
      });
    if (allocator.needsScores) scores = budgets.map((_, l) => scoreLayer(l));
    counts = allocator.allocate({ scores, layerBudgets: budgets, T, numKvHeads: Hkv, window });
    if (!allocator.needsScores) {
      // Score only the layers that lose entries.
      scores = counts.map((c, l) => (c.every((n) => n >= T) ? { scores: new Float64Array(0) } : scoreLayer(l)));
    }
  }

  const kept = counts.map((c, l) =>
    Array.from({ length: Hkv }, (_, h) => (c[h] >= T ? Int32Array.from({ length: T }, (_, j) => j) : selectHead(scores[l], h, T, c[h]))),
  );
  const layerEntries = kept.map((heads) => heads.reduce((a, k) => a + k.length, 0));
  const logicalEntries = layerEntries.reduce((a, b) => a + b, 0);
  const physicalBytes = kept.reduce(
    (a, heads) =>
      a +
      paddedLayerBytes(
        Int32Array.from(heads, (k) => k.length),
        spec.headDim,
      ),
    0,
  );
  return {
    selection: { kept, logicalEntries, physicalBytes, layerBudgets: budgets, layerEntries, method: m.label },
    quantizer: quantizer ?? null,
  };
}

function checked(ls: LayerScores, label: string, layer: number): LayerScores {
  for (const v of ls.scores) if (Number.isNaN(v)) throw new Error(`method ${label}: NaN score in layer ${layer}`);
  return ls;
}
