/** Seeded choices for tasks: a small PRNG (mulberry32) and subset selection. */
import { mulberry32 } from '../util/mulberry32.ts';

/** k distinct indices of [0, n) chosen with `rand` (partial Fisher-Yates), in the order drawn. */
export function sampleIndices(n: number, k: number, rand: () => number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  const m = Math.min(k, n);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, m);
}

/** Keep `samples` items: the first ones without a seed, a seeded subset (in original order) with one. */
export function selectSamples<T>(items: T[], samples?: number, seed?: number): T[] {
  if (samples == null || samples >= items.length) return items;
  if (seed == null) return items.slice(0, samples);
  const chosen = sampleIndices(items.length, samples, mulberry32(seed)).sort((a, b) => a - b);
  return chosen.map((i) => items[i]);
}

/** Cut the output at the first stop string. */
export function cutAtStop(text: string, stops: readonly string[]): string {
  let end = text.length;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && i < end) end = i;
  }
  return text.slice(0, end);
}
