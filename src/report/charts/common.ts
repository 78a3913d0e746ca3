/** Settings every chart shares: font, background, a palette that stays readable in print. */
import type { Config } from 'vega-lite';
import { CHART_FONT } from '../render.ts';

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

export const BASE_CONFIG: Config = {
  font: CHART_FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' },
};

/** Tableau 10: distinguishable, and the default of Vega-Lite, so colours match a user's own plots. */
export const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/** A fixed colour for each name, in the given order (so a method keeps its colour in every chart). */
export function colorScale(domain: readonly string[], extra: Record<string, string> = {}) {
  const names = [...domain, ...Object.keys(extra)];
  const range = [...domain.map((_, i) => PALETTE[i % PALETTE.length]), ...Object.values(extra)];
  return { domain: names, range };
}

/**
 * Method colours for a whole report: a method's colour is its position in `order` (every method the report
 * shows, in one order), so it is the same in every chart even when a chart shows only some methods.
 */
export function methodColorScale(methods: readonly string[], order: readonly string[] = methods, extra: Record<string, string> = {}) {
  const all = [...order, ...methods.filter((m) => !order.includes(m))];
  const range = methods.map((m) => PALETTE[all.indexOf(m) % PALETTE.length]);
  return { domain: [...methods, ...Object.keys(extra)], range: [...range, ...Object.values(extra)] };
}

/** Long category labels (e.g. `snapkv(kernel=7,pooling=max,window=8)`): angled and cut, never overlapping. */
export function categoryAxis(labels: readonly string[]) {
  const longest = Math.max(0, ...labels.map((l) => l.length));
  return longest > 8 ? { labelAngle: -35, labelAlign: 'right' as const, labelLimit: 220, labelOverlap: false } : { labelAngle: 0 };
}
