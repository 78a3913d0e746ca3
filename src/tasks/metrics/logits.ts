/**
 * Label-free scores of a continuation, computed from logits. Row t of a logits matrix [T, V] is the
 * distribution that predicts continuation token t (the engine aligns it: the first row comes from the last
 * context position).
 */

/** log softmax of one row: z_v − log Σ_u exp(z_u), computed stably. */
export function logSoftmaxRow(logits: Float32Array | Float64Array, offset: number, V: number): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[offset + v] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(V);
  for (let v = 0; v < V; v++) out[v] = logits[offset + v] - lse;
  return out;
}

function rows(logits: Float32Array | Float64Array, V: number): number {
  if (V <= 0 || logits.length % V !== 0) throw new Error(`logits length ${logits.length} is not a multiple of V=${V}`);
  return logits.length / V;
}

/** Mean log-likelihood (nats/token): (1/T) Σ_t log p_t(target_t). logits [T, V]. */
export function meanLogLikelihood(logits: Float32Array | Float64Array, V: number, targets: readonly number[]): number {
  const T = rows(logits, V);
  if (T !== targets.length) throw new Error(`logits have ${T} rows but there are ${targets.length} targets`);
  if (T === 0) throw new Error('no continuation tokens');
  let s = 0;
  for (let t = 0; t < T; t++) s += logSoftmaxRow(logits, t * V, V)[targets[t]];
  return s / T;
}

function argmaxRow(logits: Float32Array | Float64Array, offset: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[offset + v] > logits[offset + best]) best = v;
  return best;
}

/** Fraction of positions where argmax of the compressed run equals argmax of the full run (first max wins). */
export function top1Agreement(full: Float32Array | Float64Array, compressed: Float32Array | Float64Array, V: number): number {
  const T = rows(full, V);
  if (rows(compressed, V) !== T) throw new Error('full and compressed logits differ in shape');
  if (T === 0) throw new Error('no continuation tokens');
  let agree = 0;
  for (let t = 0; t < T; t++) if (argmaxRow(full, t * V, V) === argmaxRow(compressed, t * V, V)) agree++;
  return agree / T;
}

/** Mean KL(p_full ‖ p_compressed) over positions: (1/T) Σ_t Σ_v p_v (log p_v − log q_v), in nats. */
export function meanKlDivergence(full: Float32Array | Float64Array, compressed: Float32Array | Float64Array, V: number): number {
  const T = rows(full, V);
  if (rows(compressed, V) !== T) throw new Error('full and compressed logits differ in shape');
  if (T === 0) throw new Error('no continuation tokens');
  let s = 0;
  for (let t = 0; t < T; t++) {
    const lp = logSoftmaxRow(full, t * V, V);
    const lq = logSoftmaxRow(compressed, t * V, V);
    let kl = 0;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(lp[v]);
      if (p > 0) kl += p * (lp[v] - lq[v]);
    }
    s += kl;
  }
  return s / T;
}
