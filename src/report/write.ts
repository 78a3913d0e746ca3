/**
 * Writes a report into a folder: report.html (self-contained), <figure>.svg, <figure>.png, report.md,
 * results.tex. Figures are rendered once and reused by every format.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvoptError } from '../util/errors.ts';
import { REPORT_FORMATS, type ReportData, type ReportFormat } from './types.ts';
import { renderFigures } from './figures.ts';
import { htmlFromFigures } from './html.ts';
import { markdownReport } from './markdown.ts';
import { svgToPng } from './render.ts';
import { pairedLatex, resultsLatex } from './tables.ts';

export { REPORT_FORMATS, type ReportFormat };

/** Returns the paths written, in writing order. 'tex' writes results.tex (only when there are eval rows). */
export async function writeReport(outDir: string, data: ReportData, formats: readonly ReportFormat[]): Promise<string[]> {
  for (const f of formats) {
    if (!REPORT_FORMATS.includes(f)) throw new KvoptError(`--format: unknown format "${f}"; expected one of ${REPORT_FORMATS.join(', ')}`);
  }
  if (formats.length === 0) throw new KvoptError(`--format: no format given; expected one of ${REPORT_FORMATS.join(', ')}`);
  const want = new Set(formats);
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw new KvoptError(`--out ${outDir}: cannot create the folder (${(e as Error).message})`);
  }
  const written: string[] = [];
  const write = (name: string, content: string | Buffer) => {
    const path = join(outDir, name);
    writeFileSync(path, content);
    written.push(path);
  };
  const { figures, notes } = await renderFigures(data);
  if (want.has('html')) write('report.html', htmlFromFigures(data, figures, notes));
  if (want.has('svg')) for (const f of figures) write(`${f.id}.svg`, f.svg);
  if (want.has('png')) for (const f of figures) write(`${f.id}.png`, svgToPng(f.svg));
  if (want.has('md')) write('report.md', markdownReport(data, figures, want.has('png') ? 'png' : want.has('svg') ? 'svg' : null, notes));
  if (want.has('tex') && data.evalRows?.length) {
    write(
      'results.tex',
      resultsLatex(data.evalRows, {
        ...data.table,
        fullMethod: data.fullMethod,
        caption:
          'Score [95\\% CI] (quality loss [95\\% CI]) per method, budget and task. Budgets are tokens per KV head per layer. Intervals: seeded percentile bootstrap over samples.',
      }),
    );
    if (data.paired?.length) write('paired.tex', pairedLatex(data.paired, data.table?.digits));
  }
  return written;
}
