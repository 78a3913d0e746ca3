/**
 * The budget profile: per-layer budgets as bars against the uniform schedule (the target c in every layer)
 * and the PyramidKV schedule; and, for head-wise allocators, the [L][Hkv] allocation as a heatmap.
 */
import type { TopLevelSpec } from 'vega-lite';
import { KvoptError } from '../../util/errors.ts';
import type { BudgetProfileInput } from '../types.ts';
import { checkNumberList } from '../validate.ts';
import { BASE_CONFIG, SCHEMA, colorScale } from './common.ts';

function checkProfile(p: BudgetProfileInput): void {
  const L = p.layerBudgets.length;
  if (L === 0) throw new KvoptError('report: profile.layerBudgets is empty; expected one budget per layer');
  checkNumberList(p.layerBudgets, 'profile.layerBudgets');
  checkNumberList([p.target], 'profile.target');
  if (p.pyramid) {
    if (p.pyramid.length !== L) {
      throw new KvoptError(`report: profile.pyramid has ${p.pyramid.length} layers, profile.layerBudgets has ${L}`);
    }
    checkNumberList(p.pyramid, 'profile.pyramid');
  }
}

export function budgetProfileSpec(profile: BudgetProfileInput): TopLevelSpec {
  checkProfile(profile);
  const label = profile.label ?? 'profile';
  const bars = profile.layerBudgets.map((budget, layer) => ({ layer, budget, series: label }));
  const lines = profile.layerBudgets.map((_, layer) => ({ layer, budget: profile.target, series: 'uniform' }));
  if (profile.pyramid) profile.pyramid.forEach((budget, layer) => lines.push({ layer, budget, series: 'pyramid' }));
  const series = [label, 'uniform', ...(profile.pyramid ? ['pyramid'] : [])];
  const color = { field: 'series', type: 'nominal' as const, title: null, scale: colorScale(series), sort: series };
  const x = { field: 'layer', type: 'ordinal' as const, title: 'layer', axis: { labelAngle: 0 } };
  const y = { field: 'budget', type: 'quantitative' as const, title: 'budget (tokens per KV head)' };
  return {
    $schema: SCHEMA,
    title: `Per-layer budgets (target mean ${profile.target})`,
    width: Math.max(240, 28 * profile.layerBudgets.length),
    height: 260,
    config: BASE_CONFIG,
    layer: [
      { data: { values: bars }, mark: { type: 'bar', opacity: 0.85 }, encoding: { x, y, color } },
      { data: { values: lines }, mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { x, y, color, detail: { field: 'series' } } },
    ],
  };
}

export function headAllocationSpec(headBudgets: readonly (readonly number[])[]): TopLevelSpec {
  const L = headBudgets.length;
  const H = headBudgets[0]?.length ?? 0;
  if (L === 0 || H === 0) throw new KvoptError('report: profile.headBudgets is empty; expected [layers][kv heads]');
  const cells: { layer: number; head: number; budget: number }[] = [];
  headBudgets.forEach((row, layer) => {
    if (row.length !== H) throw new KvoptError(`report: profile.headBudgets[${layer}] has ${row.length} heads, row 0 has ${H}`);
    checkNumberList(row, `profile.headBudgets[${layer}]`);
    row.forEach((budget, head) => cells.push({ layer, head, budget }));
  });
  const max = Math.max(...cells.map((c) => c.budget));
  const cell = Math.max(14, Math.min(36, Math.floor(480 / H)));
  const encoding = {
    x: { field: 'head', type: 'ordinal' as const, title: 'KV head', axis: { labelAngle: 0 } },
    y: { field: 'layer', type: 'ordinal' as const, title: 'layer' },
  };
  return {
    $schema: SCHEMA,
    title: 'Per-head allocation (tokens)',
    width: cell * H,
    height: cell * L,
    config: BASE_CONFIG,
    data: { values: cells },
    layer: [
      {
        mark: 'rect',
        encoding: { ...encoding, color: { field: 'budget', type: 'quantitative', title: 'tokens', scale: { scheme: 'viridis', zero: true } } },
      },
      // Numbers inside the cells while they fit.
      ...(cell >= 24 && L * H <= 400
        ? [
            {
              mark: { type: 'text' as const, fontSize: 9 },
              encoding: {
                ...encoding,
                text: { field: 'budget', type: 'quantitative' as const, format: '.0f' },
                color: { condition: { test: `datum.budget > ${0.6 * max}`, value: 'black' }, value: 'white' },
              },
            },
          ]
        : []),
    ],
  };
}
