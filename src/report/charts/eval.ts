/**
 * Evaluation charts: quality vs budget (one line per method, the full cache as a dashed reference rule,
 * one panel per task) and quality loss 1 − score/score_full at one chosen budget (grouped bars).
 */
import type { TopLevelSpec } from 'vega-lite';
import { KvoptError } from '../../util/errors.ts';
import type { EvalResultRow } from '../types.ts';
import { budgetLabelsInOrder, checkEvalRows, distinct, fullScoreByTask, mean } from '../validate.ts';
import { BASE_CONFIG, SCHEMA, categoryAxis, methodColorScale } from './common.ts';

export const FULL_CACHE_LABEL = 'full cache';
export const AVERAGE_LABEL = 'average';

export interface EvalChartOptions {
  /** Method name of full-cache rows; they become the reference rule, not a line. Default "full". */
  fullMethod?: string;
  /** Every method of the report in one order: fixes each method's colour across charts. */
  methodOrder?: readonly string[];
}

export function qualityVsBudgetSpec(rows: readonly EvalResultRow[], opts: EvalChartOptions = {}): TopLevelSpec {
  const fullMethod = opts.fullMethod ?? 'full';
  checkEvalRows(rows);
  const methodRows = rows.filter((r) => r.method !== fullMethod);
  if (methodRows.length === 0) throw new KvoptError('report: quality-vs-budget chart needs rows of a compressed method');
  const methods = distinct(methodRows.map((r) => r.method));
  const tasks = distinct(methodRows.map((r) => r.task));
  const full = fullScoreByTask(rows, fullMethod);
  // Methods with identical results would draw one line over another: each method's points are moved by a
  // small fixed factor along x (±3 % at most), so every line and its interval stay visible.
  const dodge = (m: string) => (methods.length < 2 ? 1 : 1 + 0.06 * (methods.indexOf(m) / (methods.length - 1) - 0.5));
  const points = methodRows.map((r) => ({
    task: r.task,
    method: r.method,
    budget: r.budget,
    x: r.budget * dodge(r.method),
    budgetLabel: r.budgetLabel,
    score: r.score,
    lo: r.scoreLo ?? null,
    hi: r.scoreHi ?? null,
    // What a screen reader (and the SVG's aria-label) says: the real budget, not the offset one.
    desc:
      `budget (tokens per KV head per layer): ${r.budget}; score: ${r.score}; method: ${r.method}` +
      (r.scoreLo != null && r.scoreHi != null ? `; 95% interval: ${Number(r.scoreLo.toFixed(4))} to ${Number(r.scoreHi.toFixed(4))}` : ''),
  }));
  const hasIntervals = points.some((p) => p.lo !== null && p.hi !== null);
  const refs = [...full].filter(([t]) => tasks.includes(t)).map(([task, fullScore]) => ({ task, fullScore }));
  const budgets = distinct(points.map((p) => p.budget)).sort((a, b) => a - b);
  // Budgets are usually powers of two: a log axis spaces them evenly.
  const logX = budgets[0] > 0 && budgets[budgets.length - 1] / budgets[0] >= 4;
  const color = {
    field: 'method',
    type: 'nominal' as const,
    title: 'method',
    scale: methodColorScale(methods, opts.methodOrder, refs.length ? { [FULL_CACHE_LABEL]: '#444' } : {}),
  };
  const lo = Math.min(...budgets) * 0.97;
  const hi = Math.max(...budgets) * 1.03;
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: 'budget (tokens per KV head per layer)',
    scale: logX ? { type: 'log' as const, base: 2, nice: false, domain: [lo, hi] } : { zero: false, domain: [lo, hi] },
    // Plain integers at the budgets evaluated (never 2e+1).
    axis: budgets.length <= 12 ? { values: budgets, format: 'd' } : { format: 'd', tickMinStep: 1 },
  };
  const layer = [
    ...(hasIntervals
      ? [
          {
            transform: [{ filter: 'datum.kind === "point" && datum.lo !== null' }],
            mark: { type: 'rule' as const, strokeWidth: 1.5, opacity: 0.7 },
            encoding: { x, y: { field: 'lo', type: 'quantitative' as const }, y2: { field: 'hi' }, color },
          },
        ]
      : []),
    {
      transform: [{ filter: 'datum.kind === "point"' }],
      mark: { type: 'line' as const, point: true, strokeWidth: 2 },
      encoding: {
        x,
        y: { field: 'score', type: 'quantitative' as const, title: hasIntervals ? 'score (95% interval)' : 'score', scale: { zero: false } },
        color,
        description: { field: 'desc', type: 'nominal' as const },
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
  const values = [...points.map((p) => ({ kind: 'point', ...p })), ...refs.map((r) => ({ kind: 'ref', refLabel: FULL_CACHE_LABEL, ...r }))];
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
  const bars: { method: string; task: string; lossPct: number; loPct?: number | null; hiPct?: number | null }[] = at.map((r) => ({
    method: r.method,
    task: r.task,
    lossPct: r.qualityLoss! * 100,
    loPct: r.lossLo === null || r.lossLo === undefined ? null : r.lossLo * 100,
    hiPct: r.lossHi === null || r.lossHi === undefined ? null : r.lossHi * 100,
  }));
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
  const hasIntervals = bars.some((b) => b.loPct !== null && b.loPct !== undefined);
  const encoding = {
    x: { field: 'method', type: 'nominal' as const, title: 'method', sort: methods, axis: categoryAxis(methods) },
    xOffset: { field: 'task', type: 'nominal' as const, sort: tasks },
    y: { field: 'lossPct', type: 'quantitative' as const, title: `quality loss (%) = 1 − score / full${hasIntervals ? ' (95% interval)' : ''}` },
  };
  // One colour per method (the same as in the other charts); tasks are told apart by shade, in order.
  const color = { field: 'method', type: 'nominal' as const, title: 'method', scale: methodColorScale(methods, opts.methodOrder), legend: null };
  const opacity = {
    field: 'task',
    type: 'nominal' as const,
    title: 'task',
    sort: tasks,
    scale: { domain: tasks, range: tasks.map((_, i) => (tasks.length < 2 ? 1 : 1 - (0.65 * i) / (tasks.length - 1))) },
  };
  return {
    $schema: SCHEMA,
    title: `Quality loss at budget ${label}`,
    width: { step: 22, for: 'offset' },
    height: 260,
    config: BASE_CONFIG,
    data: { values: bars },
    layer: [
      { mark: 'bar', encoding: { ...encoding, color, opacity } },
      ...(hasIntervals
        ? [
            {
              mark: { type: 'rule' as const, color: '#333' },
              transform: [{ filter: 'datum.loPct !== null' }],
              encoding: { ...encoding, y: { field: 'loPct', type: 'quantitative' as const }, y2: { field: 'hiPct' } },
            },
          ]
        : [
            {
              mark: { type: 'text' as const, dy: -6, fontSize: 9 },
              encoding: { ...encoding, text: { field: 'lossPct', type: 'quantitative' as const, format: '.1f' } },
            },
          ]),
    ],
  };
}
