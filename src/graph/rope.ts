/**
 * RoPE constants baked into the graph. The angles themselves (position · inv_freq) are computed in the graph
 * from position_ids, so kept tokens keep their original absolute positions.
 */
import type { ModelSpec } from '../model/spec.ts';

/**
 * inv_freq_i = θ^(−2i/hd), i ∈ [0, hd/2), with Llama-3 `rope_scaling` when given:
 * wavelength λ_i = 2π / inv_freq_i; λ > L_orig/low → inv_freq/factor; λ < L_orig/high → unchanged;
 * in between: (1 − s)·inv_freq/factor + s·inv_freq with s = (L_orig/λ − low) / (high − low).
 */
export function ropeInverseFrequencies(spec: ModelSpec): Float64Array {
  const hd = spec.headDim;
  const inv = new Float64Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) inv[i] = 1 / spec.ropeTheta ** ((2 * i) / hd);
  const sc = spec.ropeScaling;
  if (!sc) return inv;
  const lowWavelen = sc.originalMaxPositionEmbeddings / sc.lowFreqFactor;
  const highWavelen = sc.originalMaxPositionEmbeddings / sc.highFreqFactor;
  for (let i = 0; i < inv.length; i++) {
    const wavelen = (2 * Math.PI) / inv[i];
    if (wavelen > lowWavelen) inv[i] = inv[i] / sc.factor;
    else if (wavelen >= highWavelen) {
      const s = (sc.originalMaxPositionEmbeddings / wavelen - sc.lowFreqFactor) / (sc.highFreqFactor - sc.lowFreqFactor);
      inv[i] = (1 - s) * (inv[i] / sc.factor) + s * inv[i];
    }
  }
  return inv;
}

/**
 * Per-dimension layout of RoPE for one head: the frequency of dimension d, the partner dimension it is
 * rotated with and the sign, so that rope(x)_d = x_d·cos(p·f_d) + sign_d · x_partner(d) · sin(p·f_d).
 * 'half': pairs (i, i + hd/2); 'interleaved': pairs (2i, 2i + 1).
 */
export function ropeLayout(spec: ModelSpec): { freq: Float32Array; partner: number[]; sign: Float32Array } {
  const hd = spec.headDim;
  const inv = ropeInverseFrequencies(spec);
  const freq = new Float32Array(hd);
  const partner: number[] = new Array(hd);
  const sign = new Float32Array(hd);
  const half = hd / 2;
  for (let d = 0; d < hd; d++) {
    if (spec.rope === 'half') {
      freq[d] = inv[d % half];
      partner[d] = d < half ? d + half : d - half;
      sign[d] = d < half ? -1 : 1;
    } else {
      freq[d] = inv[d >> 1];
      partner[d] = d % 2 === 0 ? d + 1 : d - 1;
      sign[d] = d % 2 === 0 ? -1 : 1;
    }
  }
  return { freq, partner, sign };
}
