/**
 * Compression on the device (WebGPU): the host computes which entries each head keeps (the compression methods,
 * from the attention statistics), the gather graph (src/graph/gather.ts) copies them out of the prefill's
 * device-resident cache into a padded decode batch. The kept indices (int32) are the only upload; the batch never
 * leaves the device. The copy graph reads a device tensor back when the host needs it (the disk prefill cache, a
 * host-path item), and those downloads are counted like every other crossing.
 */
import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../model/spec.ts';
import { buildCopyGraph, buildGatherGraph, gatherNames } from '../graph/gather.ts';
import type { Precision } from '../graph/precision.ts';
import { DeviceDecodeCache, hostBytes } from './device-cache.ts';
import type { KvCodec } from './kv-codec.ts';
import type { KvCache } from './types.ts';

/** Host↔device bytes, shared with the runtime's counter. */
export interface IoCounter {
  runs: number;
  hostToDevice: number;
  deviceToHost: number;
}

/**
 * The gather index of a batch for one layer: [B, Hkv, P] int32, row h·T + t for head h's kept entry t (ascending),
 * −1 on the padding after a head's last kept entry; P = the longest head of the batch.
 */
export function gatherIndex(kept: Int32Array[][][], l: number, Hkv: number, T: number): { index: Int32Array; P: number } {
  let P = 0;
  for (const item of kept) for (const k of item[l]) P = Math.max(P, k.length);
  const index = new Int32Array(kept.length * Hkv * P).fill(-1);
  kept.forEach((item, b) => {
    for (let h = 0; h < Hkv; h++) {
      const k = item[l][h];
      const dst = (b * Hkv + h) * P;
      for (let i = 0; i < k.length; i++) index[dst + i] = h * T + k[i];
    }
  });
  return { index, P };
}

export class DeviceGather {
  private constructor(
    private readonly spec: ModelSpec,
    private readonly gatherSession: ort.InferenceSession,
    private readonly copySession: ort.InferenceSession,
    private readonly kv: KvCodec,
    private readonly io: IoCounter,
  ) {}

  static async create(spec: ModelSpec, precision: Precision, kv: KvCodec, io: IoCounter): Promise<DeviceGather> {
    const gpuOutputs: Record<string, 'gpu-buffer'> = {};
    for (let l = 0; l < spec.numLayers; l++) {
      for (const name of [gatherNames.gatheredKey(l), gatherNames.gatheredValue(l), gatherNames.gatheredBias(l)]) gpuOutputs[name] = 'gpu-buffer';
    }
    const base: ort.InferenceSession.SessionOptions = { executionProviders: ['webgpu'], logSeverityLevel: 4 };
    const gatherSession = await ort.InferenceSession.create(buildGatherGraph(spec, precision), { ...base, preferredOutputLocation: gpuOutputs });
    const copySession = await ort.InferenceSession.create(buildCopyGraph(precision), base);
    return new DeviceGather(spec, gatherSession, copySession, kv, io);
  }

  /**
   * A decode batch of B rows, row b holding the entries kept[b][l][h] (ascending positions) of `full`'s single row
   * (a prefill's cache of T tokens, every bias 0), padded per layer to the batch's longest head with bias −inf.
   */
  async gather(full: DeviceDecodeCache, kept: Int32Array[][][], nextPosition: number): Promise<DeviceDecodeCache> {
    const { numLayers: L, numKvHeads: Hkv, headDim: hd } = this.spec;
    const feeds: Record<string, ort.Tensor> = {};
    for (let l = 0; l < L; l++) {
      const T = full.lengths[l];
      const { index, P } = gatherIndex(kept, l, Hkv, T);
      feeds[gatherNames.index(l)] = new ort.Tensor('int32', index, [kept.length, Hkv, P]);
      feeds[gatherNames.key(l)] = full.layer(l).key;
      feeds[gatherNames.value(l)] = full.layer(l).value;
    }
    const out = await this.gatherSession.run(feeds);
    this.io.runs++;
    this.io.hostToDevice += hostBytes(Object.values(feeds));
    const layers = Array.from({ length: L }, (_, l) => ({
      key: out[gatherNames.gatheredKey(l)],
      value: out[gatherNames.gatheredValue(l)],
      bias: out[gatherNames.gatheredBias(l)],
    }));
    return DeviceDecodeCache.adopt(
      layers,
      kept.map(() => nextPosition),
      Hkv,
      hd,
      this.kv.bytesPerElement,
    );
  }

  /** A device tensor of the KV precision as a host tensor of the same type (counted as a download). */
  async downloadTensor(t: ort.Tensor): Promise<ort.Tensor> {
    const out = await this.copySession.run({ x: t });
    this.io.runs++;
    this.io.deviceToHost += hostBytes([out.y]);
    return out.y;
  }

  /** The host copy of a one-row device cache whose entries all have bias 0 (a prefill's). */
  async downloadCache(full: DeviceDecodeCache, nextPosition: number): Promise<KvCache> {
    if (full.rows !== 1) throw new Error(`internal: downloadCache of a ${full.rows}-row device cache`);
    const layers = [];
    for (let l = 0; l < this.spec.numLayers; l++) {
      const t = full.layer(l);
      const length = full.lengths[l];
      layers.push({
        keys: this.kv.read(await this.downloadTensor(t.key)),
        values: this.kv.read(await this.downloadTensor(t.value)),
        bias: new Float32Array(this.spec.numKvHeads * length),
        length,
      });
    }
    return { layers, nextPosition };
  }

  async release(): Promise<void> {
    await this.gatherSession.release();
    await this.copySession.release();
  }
}
