/**
 * Search progress: best and median calibration fitness per generation, and the held-out fitness of each
 * generation's best (design.md §4.6: calibration scores run several points above held-out ones; the gap
 * is what this chart shows). EvolKV optimises layer groups one after another, so generations are laid out
 * on one axis in that order and each group start is marked.
 */
import type { TopLevelSpec } from 'vega-lite';
import { KvoptError } from '../../util/errors.ts';
import type { SearchGenerationRow } from '../types.ts';
import { checkSearchRows, distinct } from '../validate.ts';
import { BASE_CONFIG, SCHEMA, colorScale } from './common.ts';

export const SEARCH_SERIES = ['calibration best', 'calibration median', 'held-out best'] as const;

interface SearchPoint {
  step: number;
  group: number;
  generation: number;
  series: (typeof SEARCH_SERIES)[number];
  fitness: number;
}

/** Rows in optimisation order (group, then generation), each with its 1-based position on the x axis. */
export function searchPoints(rows: readonly SearchGenerationRow[]): SearchPoint[] {
  const ordered = [...rows].sort((a, b) => a.group - b.group || a.generation - b.generation);
  const points: SearchPoint[] = [];
  ordered.forEach((r, i) => {
    const base = { step: i + 1, group: r.group, generation: r.generation };
    points.push({ ...base, series: 'calibration best', fitness: r.best });
    points.push({ ...base, series: 'calibration median', fitness: r.median });
    if (r.heldoutBest !== null) points.push({ ...base, series: 'held-out best', fitness: r.heldoutBest });
  });
  return points;
}

export function searchProgressSpec(rows: readonly SearchGenerationRow[]): TopLevelSpec {
  if (rows.length === 0) throw new KvoptError('report: search chart needs at least one generation row');
  checkSearchRows(rows);
  const points = searchPoints(rows);
  const groups = distinct(points.map((p) => p.group));
  // A dashed rule where each later group starts, labelled with the group.
  const groupStarts = groups.slice(1).map((g) => ({ step: points.find((p) => p.group === g)!.step - 0.5, label: `group ${g}` }));
  const steps = distinct(points.map((p) => p.step));
  const x = {
    field: 'step',
    type: 'quantitative' as const,
    title: groups.length > 1 ? 'generation (layer groups in search order)' : 'generation',
    // Integer ticks only: with few steps vega would also tick at the halves, which 'd' rounds into repeats.
    axis: steps.length <= 24 ? { values: steps, format: 'd' } : { tickMinStep: 1, format: 'd' },
    scale: { domain: [0.5, points[points.length - 1].step + 0.5], nice: false },
  };
  const groupRules = groupStarts.length
    ? [
        {
          data: { values: groupStarts },
          mark: { type: 'rule' as const, color: '#999', strokeDash: [2, 3] },
          encoding: { x: { field: 'step', type: 'quantitative' as const } },
        },
        {
          data: { values: groupStarts },
          mark: { type: 'text' as const, align: 'left' as const, baseline: 'top' as const, dx: 3, dy: 2, y: 0, fontSize: 10, color: '#666' },
          encoding: { x: { field: 'step', type: 'quantitative' as const }, text: { field: 'label' } },
        },
      ]
    : [];
  // Two panels with their own y axes: the calibration fitness includes the cache bonus (× (1 + λ·CacheScore)),
  // the held-out line is the task score alone; on one axis the gap would read as overfitting.
  const fitnessSeries = SEARCH_SERIES.filter((s) => s !== 'held-out best' && points.some((p) => p.series === s));
  const colors = colorScale([...SEARCH_SERIES]);
  const panels: TopLevelSpec[] = [];
  const fitnessPanel = {
    width: 520,
    height: 200,
    title: { text: 'calibration fitness (task score × (1 + λ·CacheScore))', fontSize: 12 },
    layer: [
      {
        data: { values: points.filter((p) => p.series !== 'held-out best') },
        mark: { type: 'line' as const, point: true, strokeWidth: 2 },
        encoding: {
          x,
          y: { field: 'fitness', type: 'quantitative' as const, title: 'fitness', scale: { zero: false } },
          color: {
            field: 'series',
            type: 'nominal' as const,
            title: 'series',
            scale: { domain: fitnessSeries, range: fitnessSeries.map((s) => colors.range[SEARCH_SERIES.indexOf(s)]) },
            sort: fitnessSeries,
          },
        },
      },
      ...groupRules,
    ],
  };
  panels.push(fitnessPanel as unknown as TopLevelSpec);
  const held = points.filter((p) => p.series === 'held-out best');
  if (held.length) {
    panels.push({
      width: 520,
      height: 160,
      title: { text: "held-out task score of each generation's best (no cache bonus)", fontSize: 12 },
      layer: [
        {
          data: { values: held },
          mark: { type: 'line' as const, point: true, strokeWidth: 2, strokeDash: [6, 3], color: colors.range[2] },
          encoding: { x, y: { field: 'fitness', type: 'quantitative' as const, title: 'held-out score', scale: { zero: false } } },
        },
        ...groupRules,
      ],
    } as unknown as TopLevelSpec);
  }
  return {
    $schema: SCHEMA,
    title: 'Search progress',
    config: BASE_CONFIG,
    vconcat: panels,
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}
