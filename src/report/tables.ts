/**
 * The method × budget × task results table, as papers print it (DefensiveKV, AdaKV): one row per
 * (budget, method), one column per task plus the average, the full cache on top. One grid model, three
 * renderers: Markdown, LaTeX (booktabs) and HTML. Cells hold the score, the quality loss 1 − score/full,
 * or both ("0.64 (22.0%)").
 */
import type { EvalResultRow, PairedRow } from './types.ts';
import { digitsToSeparate } from '../stats/format.ts';
import { budgetLabelsInOrder, checkEvalRows, distinct, fullScoreByTask, mean } from './validate.ts';

export type TableValue = 'score' | 'loss' | 'both';

export interface ResultsTableOptions {
  value?: TableValue; // default 'both'
  /** Decimals of scores (default 2); losses are percentages with 1 decimal. */
  digits?: number;
  fullMethod?: string; // default 'full'
  /** The "Avg." column over tasks (default: when there is more than one task). Off when the columns are not tasks to average, e.g. calibration and held-out splits. */
  average?: boolean;
}

/** A cell's numbers; rendered per format (a minus sign and a percent sign differ in LaTeX). */
export interface ResultsCell {
  score: number | null;
  loss: number | null; // fraction, not percent
  /** 95 % interval bounds (bootstrap over samples), null when not known. */
  scoreLo?: number | null;
  scoreHi?: number | null;
  lossLo?: number | null;
  lossHi?: number | null;
}

export interface ResultsGrid {
  tasks: string[];
  /** The full-cache row first when any fullScore is known, then budgets ascending, methods in input order. */
  rows: { budgetLabel: string | null; method: string; cells: ResultsCell[]; average: ResultsCell; firstOfBudget: boolean; isFull: boolean }[];
}

export function buildResultsGrid(rows: readonly EvalResultRow[], fullMethod = 'full'): ResultsGrid {
  checkEvalRows(rows);
  const tasks = distinct(rows.map((r) => r.task));
  const full = fullScoreByTask(rows, fullMethod);
  const out: ResultsGrid['rows'] = [];
  if (full.size) {
    const fullRows = rows.filter((r) => r.method === fullMethod);
    const cells = tasks.map((t) => {
      const r = fullRows.find((x) => x.task === t);
      return { score: full.get(t) ?? null, loss: full.has(t) ? 0 : null, scoreLo: r?.scoreLo ?? null, scoreHi: r?.scoreHi ?? null };
    });
    out.push({ budgetLabel: null, method: 'Full cache', cells, average: averageOf(cells), firstOfBudget: true, isFull: true });
  }
  const methodRows = rows.filter((r) => r.method !== fullMethod);
  const methods = distinct(methodRows.map((r) => r.method));
  for (const budgetLabel of budgetLabelsInOrder(methodRows)) {
    let first = true;
    for (const method of methods) {
      const mine = methodRows.filter((r) => r.method === method && r.budgetLabel === budgetLabel);
      if (mine.length === 0) continue;
      const cells = tasks.map((t) => {
        const r = mine.find((m) => m.task === t);
        return {
          score: r?.score ?? null,
          loss: r?.qualityLoss ?? null,
          scoreLo: r?.scoreLo ?? null,
          scoreHi: r?.scoreHi ?? null,
          lossLo: r?.lossLo ?? null,
          lossHi: r?.lossHi ?? null,
        };
      });
      out.push({ budgetLabel, method, cells, average: averageOf(cells), firstOfBudget: first, isFull: false });
      first = false;
    }
  }
  return { tasks, rows: out };
}

/** Mean over tasks; undefined (null) unless every task has a value, so an average never hides a gap. */
function averageOf(cells: readonly ResultsCell[]): ResultsCell {
  const scores = cells.map((c) => c.score);
  const losses = cells.map((c) => c.loss);
  const all = (v: (number | null)[]): v is number[] => v.every((x) => x !== null);
  return { score: all(scores) ? mean(scores) : null, loss: all(losses) ? mean(losses) : null };
}

interface CellStyle {
  minus: string;
  percent: string;
  missing: string;
}

function formatCell(c: ResultsCell, value: TableValue, digits: number, st: CellStyle): string {
  const num = (x: number, d: number) => {
    const s = x.toFixed(d);
    return s.startsWith('-') && Number(s) !== 0 ? st.minus + s.slice(1) : s.replace(/^-/, '');
  };
  const interval = (lo: number | null | undefined, hi: number | null | undefined, f: (x: number) => string) =>
    lo === null || lo === undefined || hi === null || hi === undefined ? '' : ` [${f(lo)}, ${f(hi)}]`;
  const pctOf = (x: number) => num(x * 100, 1);
  const score = c.score === null ? st.missing : num(c.score, digits) + interval(c.scoreLo, c.scoreHi, (x) => num(x, digits));
  const loss = c.loss === null ? st.missing : pctOf(c.loss) + st.percent + interval(c.lossLo, c.lossHi, pctOf);
  if (value === 'score') return score;
  if (value === 'loss') return loss;
  return c.score === null ? st.missing : c.loss === null ? score : `${score} (${loss})`;
}

function tableText(grid: ResultsGrid, opts: ResultsTableOptions, st: CellStyle): { header: string[]; body: string[][] } {
  const digits = opts.digits ?? 2;
  const average = (opts.average ?? true) && grid.tasks.length > 1;
  const header = ['Budget', 'Method', ...grid.tasks, average ? 'Avg.' : null].filter((h): h is string => h !== null);
  const body = grid.rows.map((r) => {
    // The full cache's loss is 0 by definition: in "both" cells it is noise.
    const value = r.isFull && (opts.value ?? 'both') === 'both' ? 'score' : (opts.value ?? 'both');
    return [
      r.budgetLabel === null ? st.missing : r.firstOfBudget ? r.budgetLabel : '',
      r.method,
      ...r.cells.map((c) => formatCell(c, value, digits, st)),
      ...(average ? [formatCell(r.average, value, digits, st)] : []),
    ];
  });
  return { header, body };
}

/** Backslash-escapes what Markdown would read as markup inside a table cell (CommonMark allows it for any punctuation). */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_[\]<>|~]/g, (c) => `\\${c}`);
}

export function resultsMarkdown(rows: readonly EvalResultRow[], opts: ResultsTableOptions = {}): string {
  const grid = buildResultsGrid(rows, opts.fullMethod);
  const { header, body } = tableText(grid, opts, { minus: '−', percent: '%', missing: '—' });
  const esc = (cells: string[]) => cells.map((c, i) => (i < 2 ? escapeMarkdown(c) : c));
  const lines = [header.map(escapeMarkdown), ...body.map(esc)];
  const widths = header.map((_, j) => Math.max(3, ...lines.map((l) => l[j].length)));
  const line = (cells: string[]) => `| ${cells.map((c, j) => (j < 2 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join(' | ')} |`;
  const rule = `|${widths.map((w, j) => (j < 2 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`;
  return [line(lines[0]), rule, ...lines.slice(1).map(line)].join('\n') + '\n';
}

export function escapeLatex(text: string): string {
  const map: Record<string, string> = {
    '\\': '\\textbackslash{}',
    '&': '\\&',
    '%': '\\%',
    $: '\\$',
    '#': '\\#',
    _: '\\_',
    '{': '\\{',
    '}': '\\}',
    '~': '\\textasciitilde{}',
    '^': '\\textasciicircum{}',
    '<': '\\textless{}',
    '>': '\\textgreater{}',
  };
  return text.replace(/[\\&%$#_{}~^<>]/g, (c) => map[c]);
}

export interface LatexOptions extends ResultsTableOptions {
  /** When given, the tabular is wrapped in a table environment with this caption. */
  caption?: string;
  label?: string;
}

/** A booktabs tabular (needs \usepackage{booktabs}); a \midrule after the full cache and between budgets. */
export function resultsLatex(rows: readonly EvalResultRow[], opts: LatexOptions = {}): string {
  const grid = buildResultsGrid(rows, opts.fullMethod);
  // Cells hold numbers only: escape the names, then format numbers with LaTeX's minus and percent.
  const { header, body } = tableText(grid, opts, { minus: '$-$', percent: '\\%', missing: '--' });
  const cols = `ll${'r'.repeat(header.length - 2)}`;
  const row = (cells: string[]) => `${cells.join(' & ')} \\\\`;
  const out = [`\\begin{tabular}{${cols}}`, '\\toprule', row(header.map(escapeLatex)), '\\midrule'];
  body.forEach((cells, i) => {
    if (i > 0 && grid.rows[i].firstOfBudget) out.push('\\midrule');
    out.push(row([escapeLatex(cells[0]), escapeLatex(cells[1]), ...cells.slice(2)]));
  });
  out.push('\\bottomrule', '\\end{tabular}');
  if (opts.caption === undefined) return out.join('\n') + '\n';
  return (
    [
      '\\begin{table}[t]',
      '\\centering',
      ...out,
      `\\caption{${escapeLatex(opts.caption)}}`,
      ...(opts.label ? [`\\label{${opts.label}}`] : []),
      '\\end{table}',
    ].join('\n') + '\n'
  );
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The same table as an HTML <table> (class "results"), every text escaped. */
export function resultsHtml(rows: readonly EvalResultRow[], opts: ResultsTableOptions = {}): string {
  const grid = buildResultsGrid(rows, opts.fullMethod);
  const { header, body } = tableText(grid, opts, { minus: '−', percent: '%', missing: '—' });
  const th = header.map((h, j) => `<th class="${j < 2 ? 'l' : 'r'}">${escapeHtml(h)}</th>`).join('');
  const trs = body.map((cells, i) => {
    const cls = i > 0 && grid.rows[i].firstOfBudget ? ' class="group"' : '';
    return `<tr${cls}>${cells.map((c, j) => `<td class="${j < 2 ? 'l' : 'r'}">${escapeHtml(c)}</td>`).join('')}</tr>`;
  });
  return `<table class="results"><thead><tr>${th}</tr></thead><tbody>\n${trs.join('\n')}\n</tbody></table>`;
}

// ---- paired comparisons -------------------------------------------------------------------------

/** Says in words what a paired interval allows one to conclude. */
export function pairedVerdict(p: Pick<PairedRow, 'lo' | 'hi' | 'reference'>): string {
  if (p.lo === null || p.hi === null) return 'no interval (fewer than 2 samples)';
  if (p.lo > 0) return `higher than ${p.reference}`;
  if (p.hi < 0) return `lower than ${p.reference}`;
  return `not distinguishable from ${p.reference} (interval contains 0)`;
}

function pairedText(rows: readonly PairedRow[], minDigits: number): { header: string[]; body: string[][] } {
  const digits = digitsToSeparate(
    rows.map((p) => p.diff),
    minDigits,
  );
  const sign = (x: number) => (x >= 0 ? '+' : '−') + Math.abs(x).toFixed(digits);
  return {
    header: ['Column', 'Budget', 'Method', 'Reference', 'Difference [95% CI]', 'W/T/L', 'n', 'Conclusion'],
    body: rows.map((p) => [
      p.task,
      p.budgetLabel,
      p.method,
      p.reference,
      sign(p.diff) + (p.lo === null || p.hi === null ? '' : ` [${sign(p.lo)}, ${sign(p.hi)}]`),
      `${p.wins}/${p.ties}/${p.losses}`,
      String(p.n),
      pairedVerdict(p),
    ]),
  };
}

/** Paired differences as a Markdown table: method − reference per sample, mean with its interval, wins/ties/losses. */
export function pairedMarkdown(rows: readonly PairedRow[], digits = 4): string {
  const { header, body } = pairedText(rows, digits);
  const line = (cells: string[]) => `| ${cells.map((c, j) => (j < 4 ? escapeMarkdown(c) : c)).join(' | ')} |`;
  return [line(header), `|${header.map((_, j) => (j >= 4 && j <= 6 ? ' ---: ' : ' --- ')).join('|')}|`, ...body.map(line)].join('\n') + '\n';
}

export function pairedHtml(rows: readonly PairedRow[], digits = 4): string {
  const { header, body } = pairedText(rows, digits);
  const th = header.map((h, j) => `<th class="${j >= 4 && j <= 6 ? 'r' : 'l'}">${escapeHtml(h)}</th>`).join('');
  const trs = body.map((cells) => `<tr>${cells.map((c, j) => `<td class="${j >= 4 && j <= 6 ? 'r' : 'l'}">${escapeHtml(c)}</td>`).join('')}</tr>`);
  return `<table class="results paired"><thead><tr>${th}</tr></thead><tbody>\n${trs.join('\n')}\n</tbody></table>`;
}

export function pairedLatex(rows: readonly PairedRow[], minDigits = 4): string {
  const digits = digitsToSeparate(
    rows.map((p) => p.diff),
    minDigits,
  );
  const sign = (x: number) => (x >= 0 ? '+' : '$-$') + Math.abs(x).toFixed(digits);
  const out = [
    '\\begin{tabular}{llllrrrl}',
    '\\toprule',
    'Column & Budget & Method & Reference & Difference [95\\% CI] & W/T/L & $n$ & Conclusion \\\\',
    '\\midrule',
  ];
  for (const p of rows) {
    const d = sign(p.diff) + (p.lo === null || p.hi === null ? '' : ` [${sign(p.lo)}, ${sign(p.hi)}]`);
    out.push(
      `${[p.task, p.budgetLabel, p.method, p.reference].map(escapeLatex).join(' & ')} & ${d} & ${p.wins}/${p.ties}/${p.losses} & ${p.n} & ${escapeLatex(pairedVerdict(p))} \\\\`,
    );
  }
  out.push('\\bottomrule', '\\end{tabular}');
  return out.join('\n') + '\n';
}
