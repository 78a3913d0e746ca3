/** The method × budget × task results as a terminal table and as CSV (kvopt eval, kvopt show). */
import type { ResultRowWithIntervals } from '../stats/results.ts';
import { digitsToSeparate, formatDifference, formatEstimate } from '../stats/format.ts';
import { formatTextTable } from '../util/text-table.ts';

const fmt = (x: number | null, digits = 4) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** Secondary metrics shown as columns when any row has them (continuation: agreement with the full cache). */
const EXTRA: [string, string][] = [
  ['top1', 'TOP1'],
  ['kl', 'KL'],
];

const est = (value: number | null, lo: number | null, hi: number | null) => (value === null ? null : { value, lo, hi });

/**
 * Scores and losses with their 95 % bootstrap intervals in brackets, and the paired difference from the
 * reference method (`--compare-to`, default full) with its interval and per-sample wins/ties/losses.
 * Decimals are chosen so that no two different scores print the same (at least 4).
 */
export function resultsTable(rows: readonly ResultRowWithIntervals[]): string {
  if (rows.length === 0) return 'no results\n';
  const extra = EXTRA.filter(([k]) => rows.some((r) => r.metrics?.[k] !== undefined));
  const d = digitsToSeparate(
    rows.map((r) => r.meanScore),
    4,
  );
  const dd = digitsToSeparate(
    rows.map((r) => r.diff),
    4,
  );
  const ref = rows.find((r) => r.compareTo)?.compareTo ?? null;
  return (
    formatTextTable(
      [
        { title: 'TASK' },
        { title: 'SETTING' },
        { title: 'METHOD' },
        { title: 'BUDGET' },
        { title: 'TOKENS', right: true },
        { title: 'SCORE [95% CI]', right: true },
        { title: 'LOSS [95% CI]', right: true },
        ...(ref
          ? [
              { title: `DIFF VS ${ref.toUpperCase()} [95% CI]`, right: true },
              { title: 'W/T/L', right: true },
            ]
          : []),
        ...extra.map(([, title]) => ({ title, right: true })),
        { title: 'KV ENTRIES', right: true },
        { title: 'KV BYTES', right: true },
        { title: 'N', right: true },
      ],
      rows.map((r) => [
        r.task,
        r.setting,
        r.method,
        r.budget,
        fmt(r.meanBudgetTokens, 1),
        formatEstimate(est(r.meanScore, r.scoreLo, r.scoreHi), d),
        formatEstimate(est(r.qualityLoss, r.qualityLossLo, r.qualityLossHi), 1, 100, '%'),
        ...(ref
          ? [
              formatDifference(est(r.diff, r.diffLo, r.diffHi), dd) + (r.distinguishable === false ? ' ~0' : ''),
              r.wins === null ? '-' : `${r.wins}/${r.ties}/${r.losses}`,
            ]
          : []),
        ...extra.map(([k]) => fmt(r.metrics?.[k] ?? null)),
        fmt(r.meanKvEntries, 0),
        fmt(r.meanKvBytes, 0),
        r.failed ? `${r.n} (+${r.failed} failed)` : String(r.n),
      ]),
    ) + (ref ? `~0: the difference from ${ref} is not distinguishable from zero (its 95% interval contains 0)\n` : '')
  );
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function resultsCsv(rows: readonly ResultRowWithIntervals[]): string {
  const cols: (keyof ResultRowWithIntervals)[] = [
    'task',
    'setting',
    'method',
    'budget',
    'meanBudgetTokens',
    'meanScore',
    'scoreLo',
    'scoreHi',
    'fullScore',
    'qualityLoss',
    'qualityLossLo',
    'qualityLossHi',
    'compareTo',
    'diff',
    'diffLo',
    'diffHi',
    'wins',
    'ties',
    'losses',
    'distinguishable',
    'meanKvEntries',
    'meanKvBytes',
    'n',
    'failed',
  ];
  const extra = [...new Set(rows.flatMap((r) => Object.keys(r.metrics ?? {})))].sort();
  return (
    [[...cols, ...extra].join(','), ...rows.map((r) => [...cols.map((c) => csvCell(r[c])), ...extra.map((k) => csvCell(r.metrics?.[k]))].join(','))].join(
      '\n',
    ) + '\n'
  );
}
