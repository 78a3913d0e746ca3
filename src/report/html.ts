/**
 * A self-contained HTML report: inline SVG figures, inline CSS, no scripts, no external resources, so it
 * opens offline and can be mailed as one file. Every text from the data is escaped.
 */
import type { ReportData } from './types.ts';
import { renderFigures, type RenderedFigure } from './figures.ts';
import { scopeSvgIds } from './render.ts';
import { escapeHtml, pairedHtml, resultsHtml } from './tables.ts';
import { BUDGET_NOTE, reportTitle, runMetaRows } from './runs.ts';

const CSS = `
body { font-family: 'DejaVu Sans', Verdana, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .3rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { padding: .2rem .6rem; } td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; } td.l, th.l { text-align: left; }
table.results thead tr { border-top: 2px solid #222; border-bottom: 1px solid #222; } table.results tbody tr:last-child { border-bottom: 2px solid #222; }
table.results tr.group { border-top: 1px solid #999; }
table.meta th { text-align: left; font-weight: normal; color: #666; padding-left: 0; }
figure { margin: 1rem 0 2rem; } figure svg { max-width: 100%; height: auto; } figcaption { font-size: .85rem; color: #555; max-width: 800px; }
.notes { font-size: .85rem; color: #8a4b00; } .muted { color: #666; font-size: .85rem; }
`;

/** Inline form of a vega SVG: ids scoped to the figure; namespace attributes dropped (HTML needs none). */
export function inlineSvg(svg: string, figureId: string): string {
  return scopeSvgIds(svg, figureId).replace(/\s+xmlns(:xlink)?="[^"]*"/g, '');
}

function metaTable(data: ReportData): string {
  const rows = runMetaRows(data);
  if (rows.length === 0) return '';
  return `<table class="meta">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
}

/** The report from figures already rendered (writeReport renders once for SVG, PNG and HTML). */
export function htmlFromFigures(data: ReportData, figures: readonly RenderedFigure[], notes: readonly string[] = []): string {
  const title = reportTitle(data);
  const parts: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${escapeHtml(title)}</h1>`,
    metaTable(data),
    `<p class="muted">${escapeHtml(BUDGET_NOTE)}</p>`,
  ];
  if (data.evalRows?.length) {
    parts.push(
      '<h2 id="results">Results: method × budget × task</h2>',
      '<p class="muted">Score [95% interval] (quality loss [95% interval]); intervals: seeded percentile bootstrap over samples.</p>',
      resultsHtml(data.evalRows, { ...data.table, fullMethod: data.fullMethod }),
    );
  }
  if (data.paired?.length) {
    parts.push(
      '<h2 id="paired">Paired differences</h2>',
      '<p class="muted">Mean over the same samples of method score − reference score, with its 95% bootstrap interval; W/T/L: samples where the method scored above / equal to / below the reference.</p>',
      pairedHtml(data.paired, data.table?.digits),
    );
  }
  for (const f of figures) {
    parts.push(
      `<h2 id="${f.id}">${escapeHtml(f.title)}</h2>`,
      `<figure id="fig-${f.id}">${inlineSvg(f.svg, f.id)}<figcaption>${escapeHtml(f.caption)}</figcaption></figure>`,
    );
  }
  if (notes.length) {
    parts.push(
      '<h2 id="notes">Notes: figures not drawn or approximated</h2>',
      `<ul class="notes">${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`,
    );
  }
  parts.push('</body></html>');
  return parts.filter((p) => p !== '').join('\n') + '\n';
}

/** Renders every figure the data allows and returns the whole HTML page. */
export async function renderHtmlReport(data: ReportData): Promise<string> {
  const { figures, notes } = await renderFigures(data);
  return htmlFromFigures(data, figures, notes);
}
