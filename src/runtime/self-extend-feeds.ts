/** The past_position.l inputs of a SelfExtend graph (src/graph/self-extend.ts) from padded cache layers. */
import * as ort from 'onnxruntime-node';
import { pastPositionName } from '../graph/self-extend.ts';
import type { PaddedLayer } from './batch.ts';

/** [B, Hkv, P_l] int64 per layer: each entry's own position, or t for a layer that records none (a plain prefill). */
export function pastPositionFeed(past: PaddedLayer[], B: number, Hkv: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  past.forEach((p, l) => {
    const P = p.length;
    const out = new BigInt64Array(B * Hkv * P);
    if (p.positions) for (let i = 0; i < out.length; i++) out[i] = BigInt(p.positions[i]);
    else for (let r = 0; r < B * Hkv; r++) for (let t = 0; t < P; t++) out[r * P + t] = BigInt(t);
    feeds[pastPositionName(l)] = new ort.Tensor('int64', out, [B, Hkv, P]);
  });
  return feeds;
}
