/** Input checks and row helpers shared by charts and tables (a NaN that reaches vega becomes a silent gap in a figure). */
import { KvoptError } from '../util/errors.ts';
import type { EvalResultRow, NeedleCell, SearchGenerationRow } from './types.ts';

function finite(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new KvoptError(`report: ${what} must be a finite number, got ${String(value)}`);
  }
}

function finiteOrNull(value: unknown, what: string): void {
  if (value !== null) finite(value, what);
}

export function checkEvalRows(rows: readonly EvalResultRow[]): void {
  const seen = new Set<string>();
  rows.forEach((r, i) => {
    const at = `eval row ${i} (task ${r.task}, method ${r.method}, budget ${r.budgetLabel})`;
    finite(r.budget, `${at}: budget`);
    finite(r.score, `${at}: score`);
    finiteOrNull(r.fullScore, `${at}: fullScore`);
    finiteOrNull(r.qualityLoss, `${at}: qualityLoss`);
    finite(r.n, `${at}: n`);
    finiteOrNull(r.kvEntries, `${at}: kvEntries`);
    finiteOrNull(r.kvBytes, `${at}: kvBytes`);
    finiteOrNull(r.kvBytesFull, `${at}: kvBytesFull`);
    const key = JSON.stringify([r.task, r.method, r.budgetLabel]);
    if (seen.has(key)) throw new KvoptError(`report: ${at} appears twice; pass the rows of one run`);
    seen.add(key);
  });
}

export function checkSearchRows(rows: readonly SearchGenerationRow[]): void {
  rows.forEach((r, i) => {
    const at = `search row ${i} (group ${r.group}, generation ${r.generation})`;
    finite(r.group, `${at}: group`);
    finite(r.generation, `${at}: generation`);
    finite(r.best, `${at}: best`);
    finite(r.median, `${at}: median`);
    finiteOrNull(r.heldoutBest, `${at}: heldoutBest`);
  });
}

export function checkNeedleCells(cells: readonly NeedleCell[]): void {
  const seen = new Set<string>();
  cells.forEach((c, i) => {
    const at = `needle cell ${i} (method ${c.method}, length ${c.contextLength}, depth ${c.depth})`;
    finite(c.contextLength, `${at}: contextLength`);
    finite(c.depth, `${at}: depth`);
    finite(c.score, `${at}: score`);
    if (c.depth < 0 || c.depth > 1) throw new KvoptError(`report: ${at}: depth must be a fraction in 0..1`);
    const key = JSON.stringify([c.method, c.contextLength, c.depth]);
    if (seen.has(key)) throw new KvoptError(`report: ${at} appears twice`);
    seen.add(key);
  });
}

export function checkNumberList(values: readonly number[], what: string): void {
  values.forEach((v, i) => finite(v, `${what}[${i}]`));
}

/** Distinct values in first-seen order (the caller's method order is the paper's column order). */
export function distinct<T>(values: Iterable<T>): T[] {
  return [...new Set(values)];
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Budget labels sorted by their mean token budget (a ratio label's tokens vary by task). */
export function budgetLabelsInOrder(rows: readonly EvalResultRow[]): string[] {
  const labels = distinct(rows.map((r) => r.budgetLabel));
  const tokens = new Map(labels.map((l) => [l, mean(rows.filter((r) => r.budgetLabel === l).map((r) => r.budget))]));
  return labels.sort((a, b) => tokens.get(a)! - tokens.get(b)!);
}

/** Mean full-cache score per task, from the rows' fullScore (or from the full method's own rows). */
export function fullScoreByTask(rows: readonly EvalResultRow[], fullMethod: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const task of distinct(rows.map((r) => r.task))) {
    const ofTask = rows.filter((r) => r.task === task);
    const given = ofTask.map((r) => r.fullScore).filter((s): s is number => s !== null);
    const own = ofTask.filter((r) => r.method === fullMethod).map((r) => r.score);
    const scores = given.length ? given : own;
    if (scores.length) out.set(task, mean(scores));
  }
  return out;
}
