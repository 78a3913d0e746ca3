/**
 * KIVI (Liu, Yuan, …, Hu; arXiv 2402.02750), asymmetric b-bit quantisation of the gathered cache, per head:
 *   scale = (max − min)/(2^b − 1), q = clamp(round((x − min)/scale), 0, 2^b − 1), x̂ = q·scale + min
 *   (scale 0 → x̂ = min = x). The cache then holds x̂: the model attends to the dequantised values.
 * - Keys per channel: each channel over a group of `group_size` consecutive kept tokens shares (min, scale).
 *   Prefill residual: the first n − (n mod R) tokens are quantised, the last n mod R stay full precision
 *   (requires R mod group_size = 0).
 * - Values per token: each token's channels in groups of `group_size` (a shorter last group when the head
 *   size is not a multiple, e.g. hd = 8 < 32); the last R tokens stay full precision.
 * Bytes (physicalBytes): codes packed 32/b per int32 (keys packed along tokens, values along channels), one
 * scale and one min per group and the full-precision residual, all three counted in the `storage` dtype:
 * fp16 by default, as the KIVI paper and its kernels store them (fp32 counts what kvopt's fp32 cache holds);
 * each part padded to the longest head of the layer, as the rectangular tensors are held. Only the byte
 * count depends on `storage`: the attended values are the same.
 * bits = 16 is a passthrough (no quantisation, fp32 bytes) for the invariant tests.
 * Defaults: bits 2, group_size 32, residual 128 (KIVI LongBench docs; example.py uses residual 32).
 */
import { KvoptError } from '../../util/errors.ts';
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { Quantizer } from '../types.ts';
import type { LayerCache } from '../../runtime/types.ts';
import { FP32_BYTES, paddedLayerBytes } from '../cache.ts';

export const kiviOptions = {
  bits: { type: 'enum', values: ['2', '4', '8', '16'], default: '2', doc: 'bits per key/value code (16 = passthrough)' },
  group_size: { type: 'int', min: 1, default: 32, doc: 'tokens per key group / channels per value group' },
  residual: { type: 'int', min: 0, default: 128, doc: 'R: full-precision recent tokens (multiple of group_size)' },
  storage: {
    type: 'enum',
    values: ['fp16', 'fp32'],
    default: 'fp16',
    doc: 'dtype the byte count assumes for scales, minima and the residual (fp16: the KIVI paper)',
  },
} as const satisfies OptionSchema;
export type KiviOptions = OptionsOf<typeof kiviOptions>;

/** Bytes of one scale, min or residual element in a storage dtype. */
export const STORAGE_BYTES: Record<string, number> = { fp16: 2, fp32: FP32_BYTES };

/** Quantise-dequantise x[off + t·stride], t < count, in place with one (min, scale); returns the scale. */
export function quantizeGroup(x: Float32Array, off: number, stride: number, count: number, bits: number): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (let t = 0; t < count; t++) {
    const v = x[off + t * stride];
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const levels = 2 ** bits - 1;
  const scale = (hi - lo) / levels;
  for (let t = 0; t < count; t++) {
    const i = off + t * stride;
    if (scale === 0) {
      x[i] = lo;
      continue;
    }
    const q = Math.min(levels, Math.max(0, Math.round((x[i] - lo) / scale)));
    x[i] = q * scale + lo;
  }
  return scale;
}

/** The bytes a KIVI layer holds, given per-head kept lengths, padded per part to the longest head. */
export function kiviLayerBytes(
  lengths: ArrayLike<number>,
  hd: number,
  bits: number,
  group: number,
  residual: number,
  storageBytes = STORAGE_BYTES.fp16!,
): number {
  const Hkv = lengths.length;
  if (bits >= 16) return paddedLayerBytes(lengths, hd); // nothing quantised: the plain fp32 cache
  const perWord = 32 / bits;
  let qK = 0,
    rK = 0,
    qV = 0,
    rV = 0;
  for (let h = 0; h < Hkv; h++) {
    const n = lengths[h];
    const resK = residual > 0 ? n % residual : 0;
    qK = Math.max(qK, n - resK);
    rK = Math.max(rK, resK);
    qV = Math.max(qV, Math.max(0, n - residual));
    rV = Math.max(rV, Math.min(n, residual));
  }
  const keyBytes = hd * Math.ceil(qK / perWord) * 4 + hd * Math.ceil(qK / group) * 2 * storageBytes + rK * hd * storageBytes;
  const valueBytes = qV * Math.ceil(hd / perWord) * 4 + qV * Math.ceil(hd / group) * 2 * storageBytes + rV * hd * storageBytes;
  return Hkv * (keyBytes + valueBytes);
}

export function kiviQuantizer(opts: KiviOptions): Quantizer {
  const bits = Number(opts.bits);
  const group = opts.group_size;
  const R = opts.residual;
  const storage = STORAGE_BYTES[String(opts.storage ?? 'fp16')];
  if (R % group !== 0) throw new KvoptError(`method kivi: residual ${R} must be a multiple of group_size ${group}`);
  return {
    name: `kivi${bits}`,
    quantizeLayer(layer: LayerCache, lengths: Int32Array, hd: number): number {
      if (bits < 16) {
        const P = layer.length;
        for (let h = 0; h < lengths.length; h++) {
          const n = lengths[h];
          const base = h * P * hd;
          // Keys: per channel over groups of `group` consecutive tokens, the first n − n mod R tokens.
          const nqK = R > 0 ? n - (n % R) : n;
          for (let t0 = 0; t0 < nqK; t0 += group) {
            const cnt = Math.min(group, nqK - t0);
            for (let c = 0; c < hd; c++) quantizeGroup(layer.keys, base + t0 * hd + c, hd, cnt, bits);
          }
          // Values: per token over groups of `group` channels, all but the last R tokens.
          const nqV = Math.max(0, n - R);
          for (let t = 0; t < nqV; t++) {
            for (let c0 = 0; c0 < hd; c0 += group) quantizeGroup(layer.values, base + t * hd + c0, 1, Math.min(group, hd - c0), bits);
          }
        }
      }
      return kiviLayerBytes(lengths, hd, bits, group, R, storage);
    },
  };
}
