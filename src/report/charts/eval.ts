/**
 * Evaluation charts: quality vs budget (one line per method, the full cache as a dashed reference rule,
 * one panel per task) and quality loss 1 − score/score_full at one chosen budget (grouped bars).
 */
import type { TopLevelSpec } from 'vega-lite';
import { KvoptError } from '../../util/errors.ts';
import type { EvalResultRow } from '../types.ts';
import { budgetLabelsInOrder, checkEvalRows, distinct, fullScoreByTask, mean } from '../validate.ts';
import { BASE_CONFIG, SCHEMA, colorScale } from './common.ts';

export const FULL_CACHE_LABEL = 'full cache';
export const AVERAGE_LABEL = 'average';

export interface EvalChartOptions {
  /** Method name of full-cache rows; they become the reference rule, not a line. Default "full". */
  fullMethod?: string;
}

export function qualityVsBudgetSpec(rows: readonly EvalResultRow[], opts: EvalChartOptions = {}): TopLevelSpec {
  const fullMethod = opts.fullMethod ?? 'full';
  checkEvalRows(rows);
  const methodRows = rows.filter((r) => r.method !== fullMethod);
  if (methodRows.length === 0) throw new KvoptError('report: quality-vs-budget chart needs rows of a compressed method');
  const methods = distinct(methodRows.map((r) => r.method));
  const tasks = distinct(methodRows.map((r) => r.task));
  const full = fullScoreByTask(rows, fullMethod);
  const points = methodRows.map((r) => ({ task: r.task, method: r.method, budget: r.budget, budgetLabel: r.budgetLabel, score: r.score }));
  const refs = [...full].filter(([t]) => tasks.includes(t)).map(([task, fullScore]) => ({ task, fullScore }));
  const budgets = distinct(points.map((p) => p.budget)).sort((a, b) => a - b);
  // Budgets are usually powers of two: a log axis spaces them evenly.
  const logX = budgets[0]! > 0 && budgets[budgets.length - 1]! / budgets[0]! >= 4;
  const color = {
    field: 'method',
    type: 'nominal' as const,
    title: 'method',
    scale: colorScale(methods, refs.length ? { [FULL_CACHE_LABEL]: '#444' } : {}),
  };
  const layer = [
    {
      transform: [{ filter: 'datum.kind === "point"' }],
      mark: { type: 'line' as const, point: true, strokeWidth: 2 },
      encoding: {
        x: {
          field: 'budget',
          type: 'quantitative' as const,
          title: 'budget (tokens per KV head per layer)',
          scale: logX ? { type: 'log' as const, base: 2, nice: false } : { zero: false },
          axis: budgets.length <= 12 ? { values: budgets, format: '~g' } : { format: '~g' },
        },
        y: { field: 'score', type: 'quantitative' as const, title: 'score', scale: { zero: false } },
        color,
      },
    },
    ...(refs.length
      ? [
          {
            transform: [{ filter: 'datum.kind === "ref"' }],
            mark: { type: 'rule' as const, strokeDash: [6, 4], strokeWidth: 1.5 },
            encoding: { y: { field: 'fullScore', type: 'quantitative' as const }, color: { ...color, field: 'refLabel' } },
          },
        ]
      : []),
  ];
  const values = [
    ...points.map((p) => ({ kind: 'point', ...p })),
    ...refs.map((r) => ({ kind: 'ref', refLabel: FULL_CACHE_LABEL, ...r })),
  ];
  const base = { $schema: SCHEMA, title: 'Quality vs budget', config: BASE_CONFIG, data: { values } };
  if (tasks.length === 1) {
    return { ...base, title: `Quality vs budget: ${tasks[0]}`, width: 420, height: 260, layer };
  }
  return {
    ...base,
    facet: { field: 'task', type: 'nominal', title: null, sort: tasks },
    columns: Math.min(3, tasks.length),
    spec: { width: 260, height: 200, layer },
    resolve: { scale: { y: 'independent' } },
  };
}

/** Quality loss (percent) per method and task at one budget, with the across-task average when tasks > 1. */
export function qualityLossBars(rows: readonly EvalResultRow[], budgetLabel: string, fullMethod = 'full') {
  const at = rows.filter((r) => r.budgetLabel === budgetLabel && r.method !== fullMethod && r.qualityLoss !== null);
  const bars = at.map((r) => ({ method: r.method, task: r.task, lossPct: r.qualityLoss! * 100 }));
  const tasks = distinct(bars.map((b) => b.task));
  if (tasks.length > 1) {
    for (const method of distinct(bars.map((b) => b.method))) {
      const mine = bars.filter((b) => b.method === method);
      if (mine.length === tasks.length) bars.push({ method, task: AVERAGE_LABEL, lossPct: mean(mine.map((b) => b.lossPct)) });
    }
  }
  return bars;
}

export function qualityLossSpec(rows: readonly EvalResultRow[], budgetLabel?: string, opts: EvalChartOptions = {}): TopLevelSpec {
  const fullMethod = opts.fullMethod ?? 'full';
  checkEvalRows(rows);
  const label = budgetLabel ?? budgetLabelsInOrder(rows.filter((r) => r.method !== fullMethod))[0];
  if (label === undefined) throw new KvoptError('report: quality-loss chart needs rows of a compressed method');
  const bars = qualityLossBars(rows, label, fullMethod);
  if (bars.length === 0) {
    const known = budgetLabelsInOrder(rows).join(', ');
    throw new KvoptError(`report: no quality loss at budget "${label}" (needs fullScore); budgets in the rows: ${known}`);
  }
  const methods = distinct(bars.map((b) => b.method));
  const tasks = distinct(bars.map((b) => b.task));
  const encoding = {
    x: { field: 'method', type: 'nominal' as const, title: 'method', sort: methods, axis: { labelAngle: 0 } },
    xOffset: { field: 'task', type: 'nominal' as const, sort: tasks },
    y: { field: 'lossPct', type: 'quantitative' as const, title: 'quality loss (%) = 1 − score / full' },
  };
  return {
    $schema: SCHEMA,
    title: `Quality loss at budget ${label}`,
    width: { step: 22, for: 'offset' },
    height: 260,
    config: BASE_CONFIG,
    data: { values: bars },
    layer: [
      { mark: 'bar', encoding: { ...encoding, color: { field: 'task', type: 'nominal', title: 'task', scale: colorScale(tasks), sort: tasks } } },
      {
        mark: { type: 'text', dy: -6, fontSize: 9 },
        encoding: { ...encoding, text: { field: 'lossPct', type: 'quantitative', format: '.1f' } },
      },
    ],
  };
}
