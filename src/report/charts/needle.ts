/** Needle in a haystack: the classic context length × needle depth heatmap, one panel per method. */
import type { TopLevelSpec } from 'vega-lite';
import { KvoptError } from '../../util/errors.ts';
import type { NeedleCell } from '../types.ts';
import { checkNeedleCells, distinct } from '../validate.ts';
import { BASE_CONFIG, SCHEMA } from './common.ts';

export function needleHeatmapSpec(cells: readonly NeedleCell[]): TopLevelSpec {
  if (cells.length === 0) throw new KvoptError('report: needle heatmap needs at least one cell');
  checkNeedleCells(cells);
  const methods = distinct(cells.map((c) => c.method));
  const lengths = distinct(cells.map((c) => c.contextLength)).sort((a, b) => a - b);
  const depths = distinct(cells.map((c) => c.depth)).sort((a, b) => a - b);
  const cell = 34;
  return {
    $schema: SCHEMA,
    title: 'Needle in a haystack',
    config: BASE_CONFIG,
    data: { values: cells.map((c) => ({ ...c })) },
    facet: { field: 'method', type: 'nominal', title: null, sort: methods },
    columns: Math.min(3, methods.length),
    spacing: 24,
    spec: {
      width: Math.max(160, cell * lengths.length),
      height: cell * depths.length,
      mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
      encoding: {
        x: { field: 'contextLength', type: 'ordinal', title: 'context length (tokens)', sort: lengths, axis: { labelAngle: 0 } },
        // Depth 0% (needle at the start) on top, as in the original plots.
        y: { field: 'depth', type: 'ordinal', title: 'needle depth', sort: depths, axis: { format: '.0%' } },
        color: {
          field: 'score',
          type: 'quantitative',
          title: 'score',
          scale: { scheme: 'redyellowgreen', domain: [0, 1], clamp: true },
        },
      },
    },
  };
}
