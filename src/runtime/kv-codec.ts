/**
 * The KV cache's element type at the graph boundary. Host-side caches (KvCache, PrefillRecord, the compression
 * methods) are always float32; an fp16 graph takes and returns float16 K/V (Uint16Array in onnxruntime-node,
 * node-stack-notes §1.6), so host-resident I/O converts here, once per run, in both directions. On CUDA (no device
 * I/O binding in the Node binding) that conversion plus the copy of the whole past is the per-step cost; WebGPU
 * keeps decode caches on the device instead (device-cache.ts).
 */
import * as ort from 'onnxruntime-node';
import type { Precision } from '../graph/llama.ts';
import { f32ArrayToF16 } from '../graph/half-weights.ts';
import { f16ToF32 } from '../model/half.ts';

export class KvCodec {
  readonly half: boolean;
  constructor(precision: Precision) {
    this.half = precision === 'fp16';
  }

  /** A graph input tensor for float32 host data. */
  tensor(data: Float32Array, dims: number[]): ort.Tensor {
    return this.half ? new ort.Tensor('float16', f32ArrayToF16(data), dims) : new ort.Tensor('float32', data, dims);
  }

  /** A K/V output as float32 host data. */
  read(t: ort.Tensor): Float32Array {
    if (!this.half) return t.data as Float32Array;
    const h = t.data as Uint16Array;
    const out = new Float32Array(h.length);
    for (let i = 0; i < h.length; i++) out[i] = f16ToF32(h[i]);
    return out;
  }

  /** Bytes of one cached element in the graph. */
  get bytesPerElement(): number {
    return this.half ? 2 : 4;
  }
}
