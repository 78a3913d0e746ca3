/** Run history as aligned text (`kvopt runs`, `kvopt show --run ID`); `--json` is the caller's. */
import type { ReportData, RunSummary } from './types.ts';
import { formatTextTable, oneLine } from '../util/text-table.ts';

/** "2026-11-29 10:02:03" in UTC; the input unchanged when it is not a date. */
export function formatTimestamp(iso: string | null): string {
  if (iso === null) return '—';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** 4417 → "1h13m37s", 75 → "1m15s", 9.5 → "9.5s". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${Number(seconds.toFixed(1))}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (x: number) => String(x).padStart(2, '0');
  return h > 0 ? `${h}h${pad(m)}m${pad(sec)}s` : `${m}m${pad(sec)}s`;
}

export function formatFitness(f: number | null): string {
  return f === null || !Number.isFinite(f) ? '—' : f.toFixed(4);
}

const COLUMNS: { title: string; right: boolean; value: (r: RunSummary) => string }[] = [
  { title: 'ID', right: true, value: (r) => String(r.id) },
  { title: 'KIND', right: false, value: (r) => r.kind },
  { title: 'NAME', right: false, value: (r) => r.name },
  { title: 'STATUS', right: false, value: (r) => r.status },
  { title: 'CONFIG', right: false, value: (r) => r.configHash.slice(0, 12) },
  { title: 'BEST', right: true, value: (r) => formatFitness(r.bestFitness) },
  { title: 'STARTED (UTC)', right: false, value: (r) => formatTimestamp(r.startedAt) },
  { title: 'DURATION', right: true, value: (r) => formatDuration(r.durationS) },
];

/** An aligned text table, one run per line, two spaces between columns; "no runs" when empty. */
export function formatRunsTable(runs: readonly RunSummary[]): string {
  if (runs.length === 0) return 'no runs\n';
  return formatTextTable(
    COLUMNS,
    runs.map((r) => COLUMNS.map((c) => c.value(r))),
  );
}

/** `kvopt show --run ID`: one "field: value" line per field, the full config hash. */
export function formatRunDetail(run: RunSummary, extra: Record<string, string | number | null> = {}): string {
  const fields: [string, string][] = [
    ['id', String(run.id)],
    ['kind', run.kind],
    ['name', run.name],
    ['status', run.status],
    ['config hash', run.configHash],
    ['best fitness', formatFitness(run.bestFitness)],
    ['started', formatTimestamp(run.startedAt)],
    ['finished', formatTimestamp(run.finishedAt)],
    ['duration', formatDuration(run.durationS)],
    ...Object.entries(extra).map(([k, v]): [string, string] => [k, v === null ? '—' : String(v)]),
  ];
  const w = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${(k + ':').padEnd(w + 1)} ${oneLine(v)}`).join('\n') + '\n';
}

/** The report's title. */
export function reportTitle(data: ReportData): string {
  return data.title ?? (data.run ? `kvopt report: run ${data.run.id} (${data.run.name})` : 'kvopt report');
}

/** The run header of a report as raw (unescaped) label/value rows: each renderer escapes its own output. */
export function runMetaRows(data: ReportData): [string, string][] {
  const run = data.run;
  const rows: [string, string][] = run
    ? [
        ['run', `${run.id} · ${run.kind} · ${run.name}`],
        ['status', run.status],
        ['config hash', run.configHash],
        ['best fitness', formatFitness(run.bestFitness)],
        ['started (UTC)', formatTimestamp(run.startedAt)],
        ['finished (UTC)', formatTimestamp(run.finishedAt)],
        ['duration', formatDuration(run.durationS)],
      ]
    : [];
  for (const [k, v] of Object.entries(data.meta ?? {})) rows.push([k, v === null ? '—' : String(v)]);
  return rows;
}

export const BUDGET_NOTE = 'Budgets are tokens kept per KV head per layer, the observation window included. Quality loss = 1 − score / score(full cache).';
