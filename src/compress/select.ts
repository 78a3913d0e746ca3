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
    const d = scores[off + b] - scores[off + a];
    if (d > 0 || d < 0) return d;
    const sa = scores[off + a];
    const sb = scores[off + b];
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
  const all = scratchValues(total);
  layers.forEach((s, l) => all.set(s, l * Hkv * T));
  const threshold = nthSmallest(all, total, total - n); // the n-th largest
  let above = 0;
  layers.forEach((s, l) => {
    for (let h = 0; h < Hkv; h++) {
      let c = 0;
      for (let j = 0; j < T; j++) if (s[h * T + j] > threshold) c++;
      counts[l][h] = c;
      above += c;
    }
  });
  // Ties at the threshold: later position first, then lower layer, then lower head.
  let left = n - above;
  for (let j = T - 1; j >= 0 && left > 0; j--) {
    for (let l = 0; l < layers.length && left > 0; l++) {
      for (let h = 0; h < Hkv && left > 0; h++) {
        if (layers[l][h * T + j] === threshold) {
          counts[l][h]++;
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
 * Selection, not sorting: quickselect in O(T), then only the b kept positions are sorted (by position).
 */
export function selectHead(ls: LayerScores, h: number, T: number, b: number): Int32Array {
  const k = Math.max(0, Math.min(b, T));
  if (k === 0) return new Int32Array(0);
  const idx = scratchPositions(T);
  if (!ls.secondStage) {
    selectTop(ls.scores, h * T, idx, 0, T, k);
  } else {
    const first = Math.min(k, Math.max(forcedCount(ls.scores, h, T), Math.floor(k * ls.secondStage.firstStageRatio)));
    selectTop(ls.scores, h * T, idx, 0, T, first);
    selectTop(ls.secondStage.rerank, h * T, idx, first, T, k - first);
  }
  return idx.slice(0, k).sort();
}

// Scratch buffers reused across calls (a worker compresses one cache at a time), so selection allocates only its result.
let positions = new Int32Array(0);
let values = new Float64Array(0);

/** 0..T-1 in a reused buffer. */
function scratchPositions(T: number): Int32Array {
  if (positions.length < T) positions = new Int32Array(Math.max(T, 2 * positions.length));
  const p = positions.subarray(0, T);
  for (let j = 0; j < T; j++) p[j] = j;
  return p;
}

function scratchValues(n: number): Float64Array {
  if (values.length < n) values = new Float64Array(Math.max(n, 2 * values.length));
  return values.subarray(0, n);
}

/**
 * Rearranges idx[lo..hi) so that its first k entries are the top k positions of the row s[off..] in ranking
 * order (score desc; ties, +Infinity included, → later position). Quickselect with a median-of-three pivot.
 */
function selectTop(s: Float64Array, off: number, idx: Int32Array, lo: number, hi: number, k: number): void {
  if (k <= 0 || k >= hi - lo) return;
  const before = (a: number, b: number): boolean => {
    const x = s[off + a];
    const y = s[off + b];
    return x > y || (x === y && a > b);
  };
  const swap = (i: number, j: number) => {
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  };
  const target = lo + k - 1; // the k-th ranked position ends here, everything ranking before it to its left
  let l = lo;
  let r = hi - 1;
  while (r > l) {
    const m = (l + r) >>> 1;
    // median of three to idx[r] as the pivot
    if (before(idx[m], idx[l])) swap(m, l);
    if (before(idx[r], idx[l])) swap(r, l);
    if (before(idx[m], idx[r])) swap(m, r);
    const pivot = idx[r];
    let store = l;
    for (let i = l; i < r; i++) if (before(idx[i], pivot)) swap(i, store++);
    swap(store, r);
    if (store === target) return;
    if (store > target) r = store - 1;
    else l = store + 1;
  }
}

/** The value at ascending rank `rank` (0-based) of a[0..n), rearranging a (Float64 ascending order, as sort()). */
function nthSmallest(a: Float64Array, n: number, rank: number): number {
  let l = 0;
  let r = n - 1;
  while (r > l) {
    const m = (l + r) >>> 1;
    if (a[m] < a[l]) [a[m], a[l]] = [a[l], a[m]];
    if (a[r] < a[l]) [a[r], a[l]] = [a[l], a[r]];
    if (a[m] > a[r]) [a[m], a[r]] = [a[r], a[m]];
    const pivot = a[r];
    // three-way partition: < pivot | == pivot | > pivot (many equal scores, e.g. +Infinity windows)
    let lt = l;
    let gt = r;
    let i = l;
    while (i <= gt) {
      const v = a[i];
      if (v < pivot) {
        a[i] = a[lt];
        a[lt++] = v;
        i++;
      } else if (v > pivot) {
        a[i] = a[gt];
        a[gt--] = v;
      } else i++;
    }
    if (rank < lt) r = lt - 1;
    else if (rank > gt) l = gt + 1;
    else return pivot;
  }
  return a[l];
}

/**
 * Integers that sum to `total`, each floor(x_i) or floor(x_i)+1 (largest remainder; ties → lower index).
 * Requires Σ floor(x) ≤ total ≤ Σ floor(x) + count.
 */
export function largestRemainder(x: number[], total: number): number[] {
  const out = x.map((v) => Math.floor(v + 1e-9));
  let left = total - out.reduce((a, b) => a + b, 0);
  const byFrac = x.map((v, i) => ({ i, f: v - out[i] })).sort((a, b) => b.f - a.f || a.i - b.i);
  for (let r = 0; left > 0 && r < byFrac.length; r++, left--) out[byFrac[r].i]++;
  for (let r = byFrac.length - 1; left < 0 && r >= 0; r--) {
    if (out[byFrac[r].i] > 0) {
      out[byFrac[r].i]--;
      left++;
    }
  }
  return out;
}
