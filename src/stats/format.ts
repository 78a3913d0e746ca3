/** Printing estimates so that two reported numbers that differ never print the same. */
import type { Estimate } from './bootstrap.ts';

/**
 * Decimals (at least `min`, at most `max`) at which the distinct values of `xs` stay distinct when rounded:
 * 0.2615 and 0.2558 need 3, not the 2 that print both as 0.26.
 */
export function digitsToSeparate(xs: readonly (number | null | undefined)[], min = 2, max = 6): number {
  const vals = [...new Set(xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)))];
  for (let d = min; d < max; d++) {
    if (new Set(vals.map((x) => x.toFixed(d))).size === vals.length) return d;
  }
  return max;
}

/** `0.2615 [0.2401, 0.2833]`, or the value alone when there is no interval. */
export function formatEstimate(e: Estimate | null, digits: number, scale = 1, suffix = ''): string {
  if (!e || !Number.isFinite(e.value)) return '-';
  const f = (x: number) => `${(x * scale).toFixed(digits)}${suffix}`;
  return e.lo === null || e.hi === null ? f(e.value) : `${f(e.value)} [${f(e.lo)}, ${f(e.hi)}]`;
}

/** A signed difference: `+0.0057 [-0.0012, +0.0124]`. */
export function formatDifference(e: Estimate | null, digits: number): string {
  if (!e || !Number.isFinite(e.value)) return '-';
  const f = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(digits);
  return e.lo === null || e.hi === null ? f(e.value) : `${f(e.value)} [${f(e.lo)}, ${f(e.hi)}]`;
}
