/**
 * Memory: logical vs physical KV bytes per method and budget (design.md §4.3). Logical bytes are the
 * entries kept × bytes per entry at full precision; physical bytes are what the cache really holds
 * (padding of per-head budgets to the longest head, quantisation). A dashed rule marks the full cache.
 */
import type { TopLevelSpec } from 'vega-lite';
import { KvoptError } from '../../util/errors.ts';
import type { EvalResultRow } from '../types.ts';
import { budgetLabelsInOrder, checkEvalRows, distinct, mean } from '../validate.ts';
import { BASE_CONFIG, SCHEMA, categoryAxis, methodColorScale } from './common.ts';

export const MEMORY_MEASURES = ['logical', 'physical'] as const;

export interface MemoryChartOptions {
  /** Bytes of one entry (K and V of one token of one KV head) at full precision: 2 × head_dim × dtype bytes. */
  bytesPerEntry?: number;
  fullMethod?: string;
  /** Every method of the report in one order: fixes each method's colour across charts. */
  methodOrder?: readonly string[];
}

/** A row whose memory was measured (search comparisons, for instance, store scores only). */
type MeasuredRow = EvalResultRow & { kvEntries: number; kvBytes: number };
const measured = (r: EvalResultRow): r is MeasuredRow => r.kvEntries !== null && r.kvBytes !== null;

/** bytesPerEntry as given, else from the full-cache rows (no padding, no quantisation there). */
export function resolveBytesPerEntry(rows: readonly EvalResultRow[], opts: MemoryChartOptions): number {
  if (opts.bytesPerEntry !== undefined) {
    if (!(opts.bytesPerEntry > 0)) throw new KvoptError(`report: bytesPerEntry must be > 0, got ${opts.bytesPerEntry}`);
    return opts.bytesPerEntry;
  }
  const full = rows.filter(measured).filter((r) => r.method === (opts.fullMethod ?? 'full') && r.kvEntries > 0);
  if (full.length === 0) {
    throw new KvoptError('report: memory chart needs bytesPerEntry (2 × head_dim × dtype bytes) or full-cache rows to derive it');
  }
  return mean(full.map((r) => r.kvBytes / r.kvEntries));
}

/** Picks a binary unit so that the largest value reads between 1 and 1024. */
export function byteUnit(maxBytes: number): { unit: string; scale: number } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (i < units.length - 1 && maxBytes >= 1024 ** (i + 1)) i++;
  return { unit: units[i], scale: 1024 ** i };
}

export interface MemoryBar {
  method: string;
  budgetLabel: string;
  budget: number;
  measure: (typeof MEMORY_MEASURES)[number];
  bytes: number;
}

/** Mean over tasks of logical and physical bytes for every (method, budget); rows without memory figures are left out. */
export function memoryBars(rows: readonly EvalResultRow[], opts: MemoryChartOptions = {}): MemoryBar[] {
  const fullMethod = opts.fullMethod ?? 'full';
  const methodRows = rows.filter(measured).filter((r) => r.method !== fullMethod);
  if (methodRows.length === 0) return [];
  const bytesPerEntry = resolveBytesPerEntry(rows, opts);
  const bars: MemoryBar[] = [];
  for (const budgetLabel of budgetLabelsInOrder(methodRows)) {
    for (const method of distinct(methodRows.map((r) => r.method))) {
      const cell = methodRows.filter((r) => r.method === method && r.budgetLabel === budgetLabel);
      if (cell.length === 0) continue;
      const budget = mean(cell.map((r) => r.budget));
      bars.push({ method, budgetLabel, budget, measure: 'logical', bytes: mean(cell.map((r) => r.kvEntries * bytesPerEntry)) });
      bars.push({ method, budgetLabel, budget, measure: 'physical', bytes: mean(cell.map((r) => r.kvBytes)) });
    }
  }
  return bars;
}

export function memorySpec(rows: readonly EvalResultRow[], opts: MemoryChartOptions = {}): TopLevelSpec {
  checkEvalRows(rows);
  const bars = memoryBars(rows, opts);
  if (bars.length === 0) throw new KvoptError('report: memory chart needs rows of a compressed method with KV entries and bytes measured');
  const fulls = rows.map((r) => r.kvBytesFull).filter((b): b is number => b !== null);
  const fullBytes = fulls.length ? mean(fulls) : null;
  const { unit, scale } = byteUnit(Math.max(fullBytes ?? 0, ...bars.map((b) => b.bytes)));
  const methods = distinct(bars.map((b) => b.method));
  const budgetLabels = distinct(bars.map((b) => b.budgetLabel));
  const values = [
    ...bars.map((b) => ({ kind: 'bar', ...b, value: b.bytes / scale })),
    ...(fullBytes === null
      ? []
      : budgetLabels.map((budgetLabel) => ({
          kind: 'full',
          budgetLabel,
          budget: bars.find((b) => b.budgetLabel === budgetLabel)!.budget,
          value: fullBytes / scale,
        }))),
  ];
  return {
    $schema: SCHEMA,
    title: 'KV cache memory: logical vs physical',
    config: BASE_CONFIG,
    data: { values },
    facet: { column: { field: 'budgetLabel', type: 'ordinal', title: 'budget', sort: budgetLabels } },
    spec: {
      width: { step: 34 },
      height: 240,
      layer: [
        {
          transform: [{ filter: 'datum.kind === "bar"' }],
          mark: 'bar',
          encoding: {
            x: { field: 'method', type: 'nominal', title: null, sort: methods, axis: { ...categoryAxis(methods), labelAngle: -35, labelAlign: 'right' } },
            xOffset: { field: 'measure', type: 'nominal', sort: [...MEMORY_MEASURES] },
            y: { field: 'value', type: 'quantitative', title: `KV cache (${unit}, mean over tasks)` },
            // The method's colour (as in every chart); logical bytes light, physical bytes solid.
            color: { field: 'method', type: 'nominal', title: 'method', scale: methodColorScale(methods, opts.methodOrder), legend: null },
            opacity: {
              field: 'measure',
              type: 'nominal',
              title: 'bytes',
              sort: [...MEMORY_MEASURES],
              scale: { domain: [...MEMORY_MEASURES], range: [0.4, 1] },
            },
          },
        },
        {
          transform: [{ filter: 'datum.kind === "full"' }],
          mark: { type: 'rule', strokeDash: [6, 4], color: '#444' },
          encoding: { y: { field: 'value', type: 'quantitative' } },
        },
      ],
    },
  };
}
