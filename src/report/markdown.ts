/** The report as Markdown: header, results tables, figures linked from files written beside it. */
import type { ReportData } from './types.ts';
import type { FigureSpec } from './figures.ts';
import { escapeMarkdown, pairedMarkdown, resultsMarkdown } from './tables.ts';
import { BUDGET_NOTE, reportTitle, runMetaRows } from './runs.ts';

/** `figureExt`: which written files the figures link to ('png' or 'svg'); null to list no figures. */
export function markdownReport(data: ReportData, figures: readonly FigureSpec[], figureExt: 'png' | 'svg' | null, notes: readonly string[] = []): string {
  const out: string[] = [`# ${escapeMarkdown(reportTitle(data))}`, ''];
  const meta = runMetaRows(data);
  for (const [k, v] of meta) out.push(`- **${escapeMarkdown(k)}**: ${k === 'config hash' ? `\`${v}\`` : escapeMarkdown(v)}`);
  if (meta.length) out.push('');
  out.push(BUDGET_NOTE, '');
  if (data.evalRows?.length) {
    out.push('## Results: score [95% CI] (quality loss [95% CI])', '', resultsMarkdown(data.evalRows, { ...data.table, fullMethod: data.fullMethod }));
  }
  if (data.paired?.length) {
    out.push(
      '## Paired differences',
      '',
      'Mean over the same samples of method score − reference score [95% bootstrap interval]; W/T/L: samples above / equal / below the reference.',
      '',
      pairedMarkdown(data.paired, data.table?.digits),
    );
  }
  if (figureExt) {
    for (const f of figures)
      out.push(`## ${escapeMarkdown(f.title)}`, '', `![${escapeMarkdown(f.title)}](${f.id}.${figureExt})`, '', escapeMarkdown(f.caption), '');
  }
  if (notes.length) out.push('## Notes: figures not drawn or approximated', '', ...notes.map((n) => `- ${escapeMarkdown(n)}`), '');
  return out.join('\n');
}
