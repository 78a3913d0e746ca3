/** kvopt report: figures (SVG, PNG), a self-contained HTML page and paper tables (Markdown, LaTeX) of one stored run. */
import { parseRunRef } from '../store/run-ref.ts';
import { join } from 'node:path';
import type { Command } from 'commander';
import { checkOutputFolder } from './output-path.ts';
import { parseRunKind, reportDataFromStore, resolveReportRun } from '../report/from-store.ts';
import { parseBootstrap } from '../stats/results.ts';
import { REPORT_FORMATS, type ReportFormat } from '../report/types.ts';
import { Store } from '../store/store.ts';
import { KvoptError } from '../util/errors.ts';

interface ReportFlags {
  db: string;
  run: string;
  out?: string;
  format: string;
  kind?: string;
  bootstrap: string;
  compareTo: string;
}

export const DEFAULT_REPORT_FORMATS: readonly ReportFormat[] = ['html', 'png', 'md'];

function parseFormats(list: string): ReportFormat[] {
  const formats = list
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  for (const f of formats) {
    if (!(REPORT_FORMATS as readonly string[]).includes(f)) {
      throw new KvoptError(`--format: unknown format '${f}'; expected a comma-separated list of ${REPORT_FORMATS.join(', ')}`);
    }
  }
  if (formats.length === 0) throw new KvoptError(`--format: no format given; expected a comma-separated list of ${REPORT_FORMATS.join(', ')}`);
  return [...new Set(formats)] as ReportFormat[];
}

export function register(program: Command): void {
  program
    .command('report')
    .description('write the figures and tables of a stored run: HTML (self-contained), SVG, PNG, Markdown, LaTeX')
    .requiredOption('--db <file>', 'SQLite database of the run')
    .option('--run <id>', "run id or 'latest'", 'latest')
    .option('--out <dir>', 'output folder (default results/report-<run id>)')
    .option('--kind <kind>', "with --run latest: the newest 'eval' or 'search' run (default: either; never a regress run)")
    .option('--bootstrap <n>', 'bootstrap resamples of the 95% intervals (0: no intervals)', '1000')
    .option('--compare-to <method>', 'reference method of the paired-differences table', 'full')
    .option('--format <list>', `comma-separated: ${REPORT_FORMATS.join(', ')}`, DEFAULT_REPORT_FORMATS.join(','))
    .addHelpText(
      'after',
      `
Examples:
  kvopt report --db results/kvopt.db --run latest             # results/report-<id>/report.html, *.png, report.md
  kvopt report --db results/kvopt.db --run 3 --format svg,tex --out paper/figures
  kvopt report --db results/kvopt.db --run latest --kind search
  kvopt report --db results/quickstart.db --compare-to defensivekv    # DefensiveKV vs the other methods, paired`,
    )
    .action(async (f: ReportFlags) => {
      const formats = parseFormats(f.format);
      const ref = parseRunRef(f.run);
      if (f.out) checkOutputFolder('--out', f.out);
      const kind = parseRunKind(f.kind);
      const stats = { resamples: parseBootstrap(f.bootstrap), compareTo: f.compareTo };
      const store = Store.open(f.db, { mustExist: true });
      let data: ReturnType<typeof reportDataFromStore>;
      let runId: number;
      try {
        runId = resolveReportRun(store, ref, kind).id;
        data = reportDataFromStore(store, runId, stats);
      } finally {
        store.close();
      }
      // The renderer (vega, resvg) is loaded only when a report is written: other commands start faster.
      const { writeReport } = await import('../report/write.ts');
      const paths = await writeReport(f.out ?? join('results', `report-${runId}`), data, formats);
      process.stdout.write(paths.join('\n') + '\n');
    });
}
