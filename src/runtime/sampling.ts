/** Token choice and log-probabilities from a logits row. */
import { mulberry32 } from '../util/mulberry32.ts';

/** Index of the largest logit (lowest index on ties). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** A seeded sampler: greedy when temperature is 0, else draws from softmax(logits / temperature). */
export function makeSampler(temperature: number, seed: number): (logits: Float32Array) => number {
  if (temperature <= 0) return argmax;
  const rand = mulberry32(seed);
  let p = new Float64Array(0); // reused across steps: sampling runs once per token of every sequence
  return (logits) => {
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
    if (p.length !== logits.length) p = new Float64Array(logits.length);
    let z = 0;
    for (let i = 0; i < logits.length; i++) z += p[i] = Math.exp((logits[i] - max) / temperature);
    let r = rand() * z;
    for (let i = 0; i < logits.length; i++) {
      r -= p[i];
      if (r < 0) return i;
    }
    return argmax(logits);
  };
}

/** log softmax(logits)[token] = logit_token − log Σ exp(logit_i), in float64. */
export function logProbOf(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i] - max);
  return logits[token] - max - Math.log(z);
}
