/**
 * Value-output norms of a prefilled cache, per layer [Hkv, T] (float64), computed by a value-norm graph
 * (src/graph/value-norms.ts) once per prefill and kept in the PrefillRecord, so every budget and every search
 * candidate of CriticalKV / DefensiveKV reads them instead of recomputing ≈ 2·T·H·hd·D flops per layer.
 * ValueNormRunner: float64 on the CPU provider from a host cache. DeviceValueNormRunner: float32 on WebGPU from a
 * prefill's device-resident V (no float64 there), so only the norms come down, never the cache.
 */
import * as ort from 'onnxruntime-node';
import type { ModelSpec, ModelWeights } from '../model/spec.ts';
import { buildCopyGraph } from '../graph/gather.ts';
import type { Precision } from '../graph/precision.ts';
import { buildDeviceValueNormGraph, buildValueNormGraph, woHeadsOf } from '../graph/value-norms.ts';
import { type DeviceDecodeCache, hostBytes, onDevice } from './device-cache.ts';
import type { IoCounter } from './device-gather.ts';
import type { KvCache } from './types.ts';

/**
 * Tokens per run: bounds the [Hkv, G, n, D] intermediate (≈ 38 MB in float64, 19 MB in float32 at n = 512 for a
 * 12×64-head, D 768 layer).
 */
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

export class DeviceValueNormRunner {
  private constructor(
    private readonly spec: ModelSpec,
    private readonly session: ort.InferenceSession,
    /** Uploads host tensors (an identity run whose output stays on the device); it owns W_o's device copies. */
    private readonly upload: ort.InferenceSession,
    /** W_o per head [Hkv, G, hd, D] of every layer, on the device: uploaded once, fed to every run. */
    private readonly woHeads: ort.Tensor[],
    private readonly io: IoCounter,
  ) {}

  static async create(spec: ModelSpec, weights: ModelWeights, precision: Precision, io: IoCounter): Promise<DeviceValueNormRunner> {
    const { numHeads: H, numKvHeads: Hkv, headDim: hd, hiddenSize: D } = spec;
    const base: ort.InferenceSession.SessionOptions = { executionProviders: ['webgpu'], logSeverityLevel: 4 };
    const session = await ort.InferenceSession.create(buildDeviceValueNormGraph(spec, precision), base);
    const upload = await ort.InferenceSession.create(buildCopyGraph('fp32'), { ...base, preferredOutputLocation: { y: 'gpu-buffer' } });
    const runner = new DeviceValueNormRunner(spec, session, upload, [], io);
    try {
      for (const layer of weights.layers) {
        const x = new ort.Tensor('float32', woHeadsOf(layer.wo, spec), [Hkv, H / Hkv, hd, D]);
        const { y } = await upload.run({ x });
        io.runs++;
        io.hostToDevice += hostBytes([x]);
        runner.woHeads.push(y);
        if (!onDevice(y)) throw new Error(`internal: the uploaded W_o came back in '${y.location}', not 'gpu-buffer'`);
      }
    } catch (e) {
      await runner.release();
      throw e;
    }
    return runner;
  }

  /** Norms of the first n entries of every layer of `cache` (a prefill's one-row device cache): L × [Hkv, n]. */
  async norms(cache: DeviceDecodeCache, n: number): Promise<Float64Array[]> {
    const { numKvHeads: Hkv } = this.spec;
    if (cache.rows !== 1) throw new Error(`internal: value norms of a ${cache.rows}-row device cache`);
    const out: Float64Array[] = [];
    for (let l = 0; l < this.spec.numLayers; l++) {
      const P = cache.lengths[l];
      if (n > P) throw new Error(`internal: value norms of ${n} entries asked of a layer with ${P}`);
      const norms = new Float64Array(Hkv * n);
      for (let s = 0; s < n; s += TOKENS_PER_RUN) {
        const c = Math.min(TOKENS_PER_RUN, n - s);
        const feeds = {
          values: cache.layer(l).value,
          wo_heads: this.woHeads[l],
          start: new ort.Tensor('int64', BigInt64Array.of(BigInt(s)), [1]),
          end: new ort.Tensor('int64', BigInt64Array.of(BigInt(s + c)), [1]),
        };
        const r = await this.session.run(feeds, ['norms']);
        this.io.runs++;
        this.io.hostToDevice += hostBytes(Object.values(feeds));
        this.io.deviceToHost += hostBytes([r.norms]);
        const got = r.norms.data as Float32Array; // [Hkv, c]
        for (let k = 0; k < Hkv; k++) norms.set(got.subarray(k * c, (k + 1) * c), k * n + s);
      }
      out.push(norms);
    }
    return out;
  }

  /** Disposes W_o's device copies before the session that made them (the other order crashes Node on lavapipe). */
  async release(): Promise<void> {
    for (const t of this.woHeads) if (onDevice(t)) t.dispose();
    await this.upload.release();
    await this.session.release();
  }
}
