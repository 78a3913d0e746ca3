/** The method × budget × task results as a terminal table and as CSV (kvopt eval, kvopt show). */
import type { ResultRow } from '../store/types.ts';
import { formatTextTable } from '../util/text-table.ts';

const fmt = (x: number | null, digits = 4) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));
const pct = (x: number | null) => (x === null || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(1)}%`);

/** Secondary metrics shown as columns when any row has them (continuation: agreement with the full cache). */
const EXTRA: [string, string][] = [['top1', 'TOP1'], ['kl', 'KL']];

export function resultsTable(rows: readonly ResultRow[]): string {
  if (rows.length === 0) return 'no results\n';
  const extra = EXTRA.filter(([k]) => rows.some((r) => r.metrics?.[k] !== undefined));
  return formatTextTable(
    [
      { title: 'TASK' }, { title: 'SETTING' }, { title: 'METHOD' }, { title: 'BUDGET' },
      { title: 'TOKENS', right: true }, { title: 'SCORE', right: true }, { title: 'LOSS', right: true },
      ...extra.map(([, title]) => ({ title, right: true })),
      { title: 'KV ENTRIES', right: true }, { title: 'KV BYTES', right: true }, { title: 'N', right: true },
    ],
    rows.map((r) => [
      r.task,
      r.setting,
      r.method,
      r.budget,
      fmt(r.meanBudgetTokens, 1),
      fmt(r.meanScore),
      pct(r.qualityLoss),
      ...extra.map(([k]) => fmt(r.metrics?.[k] ?? null)),
      fmt(r.meanKvEntries, 0),
      fmt(r.meanKvBytes, 0),
      r.failed ? `${r.n} (+${r.failed} failed)` : String(r.n),
    ]),
  );
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function resultsCsv(rows: readonly ResultRow[]): string {
  const cols: (keyof ResultRow)[] = [
    'task', 'setting', 'method', 'budget', 'meanBudgetTokens', 'meanScore', 'fullScore', 'qualityLoss',
    'meanKvEntries', 'meanKvBytes', 'n', 'failed',
  ];
  const extra = [...new Set(rows.flatMap((r) => Object.keys(r.metrics ?? {})))].sort();
  return (
    [[...cols, ...extra].join(','), ...rows.map((r) => [...cols.map((c) => csvCell(r[c])), ...extra.map((k) => csvCell(r.metrics?.[k]))].join(','))].join('\n') + '\n'
  );
}
