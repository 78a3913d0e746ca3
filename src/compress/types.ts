/**
 * The one small interface of kvopt's compression methods (design.md §4.4):
 * a method = Scorer (which tokens matter) ▸ Allocator (how many per layer / per head) ▸ optional Quantizer.
 * Top-k selection, gathering and padding are written once (select.ts, cache.ts); a method file only scores,
 * allocates or quantises.
 *
 * Conventions shared by every file here:
 * - A budget is tokens kept per KV head per layer, the observation window included (design.md §4.3).
 * - Scores are Float64Array [Hkv, T]; +Infinity marks an entry that must always be kept (window, sinks,
 *   protected tokens), so selection needs no side channel and stays exact.
 * - Ranking order everywhere: higher score first; ties go to the LATER token (higher position; recent tokens
 *   are the likelier to be attended next); remaining ties (flattened top-k across heads/layers) go to the lower
 *   layer, then the lower head. select.ts implements it once.
 */
import type { ModelSpec, ModelWeights } from '../model/spec.ts';
import type { KvCache, LayerCache, PrefillRecord } from '../runtime/types.ts';

/** What a scorer reads that does not depend on the budget. */
export interface RecordContext {
  record: PrefillRecord;
  spec: ModelSpec;
  weights: ModelWeights;
}

export interface ScoreContext extends RecordContext {
  /** Requested budget per layer (tokens per KV head, window included), already clamped to T. */
  layerBudgets: number[];
}

/**
 * What the compressions of one record share (layer scores, scorers' prepared parts), keyed by scorer, options,
 * layer and, for budget-dependent scores, the layer budget.
 */
export type ScoreCache = Map<string, unknown>;

export interface LayerScores {
  /** Importance of every (KV head, token); +Infinity = always kept. */
  scores: Float64Array; // [Hkv, T]
  /**
   * CriticalKV's two-stage selection: a head allotted b entries keeps its top max(#forced, floor(b·ratio)) by
   * `scores`, then fills the rest by `rerank` (higher first, same tie rule).
   */
  secondStage?: { rerank: Float64Array /* [Hkv, T] */; firstStageRatio: number };
}

export interface Scorer {
  readonly name: string;
  /** Always-kept recent tokens (observation window) the allocators may need (PyramidKV's B′ = B − w); 0 if none. */
  readonly window: number;
  /** True when the scores depend on ctx.layerBudgets (scores of other scorers are reused across budgets). */
  readonly usesBudget?: boolean;
  /**
   * The budget-independent part of a budget-dependent scorer (statistics over the record), computed once per
   * record and layer and passed to every `score` call of that layer, whatever the budget.
   */
  prepare?(ctx: RecordContext, layer: number): unknown;
  score(ctx: ScoreContext, layer: number, prepared?: unknown): LayerScores;
}

export interface AllocationInput {
  scores: LayerScores[]; // L entries ([] when the allocator declares needsScores = false)
  layerBudgets: number[]; // [L], clamped to T
  T: number;
  numKvHeads: number;
  /** The scorer's window, clamped to T. */
  window: number;
}

export interface Allocator {
  readonly name: string;
  /** False when counts do not depend on scores (uniform, pyramid, profile): scoring can then be skipped for full layers. */
  readonly needsScores: boolean;
  /** Per layer, per KV head: how many entries to keep (each ≤ T). */
  allocate(input: AllocationInput): Int32Array[]; // L × [Hkv]
  /**
   * Optional rewrite of the requested per-layer budgets before anything else (profile file, PyramidKV
   * schedule); what it returns is what the cache reports as applied. `window` is the scorer's, ≤ T.
   */
  layerBudgets?(requested: number[], T: number, window: number): number[];
}

export interface Quantizer {
  readonly name: string;
  /**
   * Quantises and dequantises, in place, the real entries of one gathered layer (head h holds lengths[h]
   * entries at positions 0..lengths[h]-1, original order); returns the bytes this layer really holds.
   */
  quantizeLayer(layer: LayerCache, lengths: Int32Array, headDim: number): number;
}

/** A parsed method: names and resolved options of its three stages. */
export interface MethodSpec {
  /** Canonical label, e.g. `snapkv`, `snapkv+kivi4`, `adakv(alpha=0.5)`. */
  label: string;
  scorer: { name: string; options: Record<string, unknown> };
  allocator: { name: string; options: Record<string, unknown> };
  quantizer: { name: string; options: Record<string, unknown> } | null;
}

/** A compressed cache's kept entries and figures, without the entries themselves (compress.ts selectKept). */
export type KeptSelection = Omit<CompressedCache, keyof KvCache>;

export interface CompressedCache extends KvCache {
  /** Kept original positions per layer per KV head, ascending. */
  kept: Int32Array[][]; // L × Hkv × [n_h]
  /** Σ kept entries over layers × KV heads (one entry = one key + one value of one head). */
  logicalEntries: number;
  /** Bytes really held: padded per layer to the longest head, K and V, fp32 (or KIVI's packed layout). */
  physicalBytes: number;
  /** The per-layer budgets requested of the allocator (after clamping to T and any profile rewrite). */
  layerBudgets: number[];
  /** Entries really kept per layer (Σ over KV heads): H_kv·B_l for per-layer allocators, the pyramid, the global shares. */
  layerEntries: number[];
  method: string;
}
