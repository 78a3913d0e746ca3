/**
 * Top-k written once. Order (types.ts): higher score first; ties → later token; then lower layer, lower head.
 * Per-head selection and the flattened top-k across heads/layers use the same total order, so a head's top c_h
 * is exactly its share of a flattened top-k.
 */
import type { LayerScores } from './types.ts';

/** Positions 0..T-1 of head h in ranking order (score desc, position desc). */
export function rankHead(scores: Float64Array, h: number, T: number): Int32Array {
  const off = h * T;
  const order = Int32Array.from({ length: T }, (_, j) => j);
  order.sort((a, b) => {
    const d = scores[off + b]! - scores[off + a]!;
    if (d > 0 || d < 0) return d;
    const sa = scores[off + a]!;
    const sb = scores[off + b]!;
    // +Inf - +Inf is NaN: equal infinities are ties.
    if (sa === sb) return b - a;
    return sb > sa ? 1 : -1;
  });
  return order;
}

/**
 * Flattened top-n over every (array, head, position) of `layers` (each [Hkv, T]); returns how many of the n
 * fall in each head of each array. n ≥ total keeps everything.
 */
export function flatTopCounts(layers: Float64Array[], Hkv: number, T: number, n: number): Int32Array[] {
  const counts = layers.map(() => new Int32Array(Hkv));
  const total = layers.length * Hkv * T;
  if (n <= 0) return counts;
  if (n >= total) {
    for (const c of counts) c.fill(T);
    return counts;
  }
  const all = new Float64Array(total);
  layers.forEach((s, l) => all.set(s, l * Hkv * T));
  all.sort(); // ascending; the n-th largest is at total - n
  const threshold = all[total - n]!;
  let above = 0;
  layers.forEach((s, l) => {
    for (let h = 0; h < Hkv; h++) {
      let c = 0;
      for (let j = 0; j < T; j++) if (s[h * T + j]! > threshold) c++;
      counts[l]![h] = c;
      above += c;
    }
  });
  // Ties at the threshold: later position first, then lower layer, then lower head.
  let left = n - above;
  for (let j = T - 1; j >= 0 && left > 0; j--) {
    for (let l = 0; l < layers.length && left > 0; l++) {
      for (let h = 0; h < Hkv && left > 0; h++) {
        if (layers[l]![h * T + j] === threshold) {
          counts[l]![h]!++;
          left--;
        }
      }
    }
  }
  return counts;
}

/** Number of +Infinity (always-kept) entries of head h. */
export function forcedCount(scores: Float64Array, h: number, T: number): number {
  let c = 0;
  for (let j = 0; j < T; j++) if (scores[h * T + j] === Infinity) c++;
  return c;
}

/**
 * The b positions head h keeps, ascending. One stage: top b by score. With CriticalKV's second stage: top
 * max(#forced, floor(b·ratio)) by score, the rest of b by the rerank scores among the remaining positions.
 */
export function selectHead(ls: LayerScores, h: number, T: number, b: number): Int32Array {
  const k = Math.max(0, Math.min(b, T));
  const order = rankHead(ls.scores, h, T);
  let chosen: Int32Array;
  if (!ls.secondStage || k === 0) {
    chosen = order.slice(0, k);
  } else {
    const first = Math.min(k, Math.max(forcedCount(ls.scores, h, T), Math.floor(k * ls.secondStage.firstStageRatio)));
    const taken = new Uint8Array(T);
    chosen = new Int32Array(k);
    for (let i = 0; i < first; i++) {
      chosen[i] = order[i]!;
      taken[order[i]!] = 1;
    }
    const second = rankHead(ls.secondStage.rerank, h, T);
    let i = first;
    for (let r = 0; r < T && i < k; r++) {
      const j = second[r]!;
      if (!taken[j]) chosen[i++] = j;
    }
  }
  return chosen.sort();
}

/**
 * Integers that sum to `total`, each floor(x_i) or floor(x_i)+1 (largest remainder; ties → lower index).
 * Requires Σ floor(x) ≤ total ≤ Σ floor(x) + count.
 */
export function largestRemainder(x: number[], total: number): number[] {
  const out = x.map((v) => Math.floor(v + 1e-9));
  let left = total - out.reduce((a, b) => a + b, 0);
  const byFrac = x.map((v, i) => ({ i, f: v - out[i]! })).sort((a, b) => b.f - a.f || a.i - b.i);
  for (let r = 0; left > 0 && r < byFrac.length; r++, left--) out[byFrac[r]!.i]!++;
  for (let r = byFrac.length - 1; left < 0 && r >= 0; r--) {
    if (out[byFrac[r]!.i]! > 0) {
      out[byFrac[r]!.i]!--;
      left++;
    }
  }
  return out;
}
