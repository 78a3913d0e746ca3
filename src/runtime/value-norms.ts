/**
 * Value-output norms of a prefilled cache, per layer [Hkv, T] (float64), computed by the value-norm graph
 * (src/graph/value-norms.ts) once per prefill and kept in the PrefillRecord, so every budget and every search
 * candidate of CriticalKV / DefensiveKV reads them instead of recomputing ≈ 2·T·H·hd·D flops per layer.
 */
import * as ort from 'onnxruntime-node';
import type { ModelSpec, ModelWeights } from '../model/spec.ts';
import { buildValueNormGraph } from '../graph/value-norms.ts';
import type { KvCache } from './types.ts';

/** Tokens per run: bounds the [Hkv, G, n, D] float64 intermediate (≈ 38 MB at n = 512 for a 12×64-head, D 768 layer). */
const TOKENS_PER_RUN = 512;

export class ValueNormRunner {
  private constructor(
    private readonly spec: ModelSpec,
    private readonly weights: ModelWeights,
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(spec: ModelSpec, weights: ModelWeights, intraOpNumThreads?: number): Promise<ValueNormRunner> {
    const opts: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    };
    if (intraOpNumThreads) opts.intraOpNumThreads = intraOpNumThreads;
    return new ValueNormRunner(spec, weights, await ort.InferenceSession.create(buildValueNormGraph(spec), opts));
  }

  /** Norms of the first n entries of every layer of `cache` (one sequence, entries 0..n-1 of each head): L × [Hkv, n]. */
  async norms(cache: KvCache, n: number): Promise<Float64Array[]> {
    const { numKvHeads: Hkv, headDim: hd, hiddenSize: D, numHeads: H } = this.spec;
    const out: Float64Array[] = [];
    for (const [l, layer] of cache.layers.entries()) {
      const P = layer.length;
      if (n > P) throw new Error(`internal: value norms of ${n} entries asked of a layer with ${P}`);
      const wo = new ort.Tensor('float32', this.weights.layers[l].wo, [D, H * hd]);
      const norms = new Float64Array(Hkv * n);
      for (let s = 0; s < n; s += TOKENS_PER_RUN) {
        const c = Math.min(TOKENS_PER_RUN, n - s);
        const chunk = new Float32Array(Hkv * c * hd);
        for (let k = 0; k < Hkv; k++) chunk.set(layer.values.subarray((k * P + s) * hd, (k * P + s + c) * hd), k * c * hd);
        const r = await this.session.run({ values: new ort.Tensor('float32', chunk, [Hkv, c, hd]), wo }, ['norms']);
        const got = r.norms.data as Float64Array; // [Hkv, c]
        for (let k = 0; k < Hkv; k++) norms.set(got.subarray(k * c, (k + 1) * c), k * n + s);
      }
      out.push(norms);
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
