/** The report as Markdown: header, results tables, figures linked from files written beside it. */
import type { ReportData } from './types.ts';
import type { FigureSpec } from './figures.ts';
import { escapeMarkdown, resultsMarkdown } from './tables.ts';
import { formatDuration, formatFitness, formatTimestamp } from './runs.ts';

/** `figureExt`: which written files the figures link to ('png' or 'svg'); null to list no figures. */
export function markdownReport(data: ReportData, figures: readonly FigureSpec[], figureExt: 'png' | 'svg' | null, notes: readonly string[] = []): string {
  const title = data.title ?? (data.run ? `kvopt report: run ${data.run.id} (${data.run.name})` : 'kvopt report');
  const out: string[] = [`# ${escapeMarkdown(title)}`, ''];
  const run = data.run;
  const meta: [string, string][] = run
    ? [
        ['run', `${run.id} · ${run.kind} · ${run.name}`],
        ['status', run.status],
        ['config hash', `\`${run.configHash}\``],
        ['best fitness', formatFitness(run.bestFitness)],
        ['started (UTC)', formatTimestamp(run.startedAt)],
        ['duration', formatDuration(run.durationS)],
      ]
    : [];
  for (const [k, v] of Object.entries(data.meta ?? {})) meta.push([k, escapeMarkdown(v === null ? '—' : String(v))]);
  for (const [k, v] of meta) out.push(`- **${escapeMarkdown(k)}**: ${k === 'config hash' ? v : k === 'run' ? escapeMarkdown(v) : v}`);
  if (meta.length) out.push('');
  out.push('Budgets are tokens kept per KV head per layer, the observation window included. Quality loss = 1 − score / score(full cache).', '');
  if (data.evalRows?.length) {
    out.push('## Results: score (quality loss)', '', resultsMarkdown(data.evalRows, { ...data.table, fullMethod: data.fullMethod }));
  }
  if (figureExt) {
    for (const f of figures) out.push(`## ${escapeMarkdown(f.title)}`, '', `![${escapeMarkdown(f.title)}](${f.id}.${figureExt})`, '', escapeMarkdown(f.caption), '');
  }
  if (notes.length) out.push('## Notes: figures not drawn or approximated', '', ...notes.map((n) => `- ${escapeMarkdown(n)}`), '');
  return out.join('\n');
}
