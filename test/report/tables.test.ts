import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildResultsGrid, escapeLatex, escapeMarkdown, resultsHtml, resultsLatex, resultsMarkdown } from '../../src/report/tables.ts';
import type { EvalResultRow } from '../../src/report/types.ts';

const FULL: Record<string, number> = { qa_en: 50, sum: 20 };

function row(task: string, method: string, budgetLabel: string, budget: number, score: number): EvalResultRow {
  const fullScore = FULL[task];
  return {
    task,
    method,
    budget,
    budgetLabel,
    score,
    fullScore,
    qualityLoss: 1 - score / fullScore,
    n: 10,
    kvEntries: budget * 20,
    kvBytes: budget * 20 * 64,
    kvBytesFull: 512 * 20 * 64,
  };
}

// 2 methods × 2 budgets × 2 tasks; "20%" came to 100 and 120 tokens, so it sorts after "64";
// h2o_lite was not run on `sum` at 20%.
const ROWS: EvalResultRow[] = [
  row('qa_en', 'snapkv', '20%', 100, 49),
  row('sum', 'snapkv', '20%', 120, 19.6),
  row('qa_en', 'h2o_lite', '20%', 100, 47),
  row('qa_en', 'snapkv', '64', 64, 45),
  row('sum', 'snapkv', '64', 64, 18),
  row('qa_en', 'h2o_lite', '64', 64, 40),
  row('sum', 'h2o_lite', '64', 64, 21), // better than the full cache: negative loss
];

test('markdown table: hand-checked cells, averages only over complete rows, escaped names', () => {
  // Averages: snapkv@64 (45+18)/2 = 31.5, loss (10+10)/2 = 10%; h2o_lite@64 (40+21)/2 = 30.5, loss (20−5)/2 = 7.5%;
  // snapkv@20% (49+19.6)/2 = 34.3, loss (2+2)/2 = 2%; full (50+20)/2 = 35.
  const expected = [
    '| Budget | Method     |       qa\\_en |          sum |         Avg. |',
    '| ------ | ---------- | -----------: | -----------: | -----------: |',
    '| —      | Full cache |         50.0 |         20.0 |         35.0 |',
    '| 64     | snapkv     | 45.0 (10.0%) | 18.0 (10.0%) | 31.5 (10.0%) |',
    '|        | h2o\\_lite  | 40.0 (20.0%) | 21.0 (−5.0%) |  30.5 (7.5%) |',
    '| 20%    | snapkv     |  49.0 (2.0%) |  19.6 (2.0%) |  34.3 (2.0%) |',
    '|        | h2o\\_lite  |  47.0 (6.0%) |            — |            — |',
    '',
  ].join('\n');
  assert.equal(resultsMarkdown(ROWS, { digits: 1 }), expected);
});

test('markdown score-only table with one task has no average column', () => {
  const md = resultsMarkdown(
    ROWS.filter((r) => r.task === 'qa_en'),
    { value: 'score' },
  );
  assert.equal(
    md,
    [
      '| Budget | Method     | qa\\_en |',
      '| ------ | ---------- | -----: |',
      '| —      | Full cache |  50.00 |',
      '| 64     | snapkv     |  45.00 |',
      '|        | h2o\\_lite  |  40.00 |',
      '| 20%    | snapkv     |  49.00 |',
      '|        | h2o\\_lite  |  47.00 |',
      '',
    ].join('\n'),
  );
});

test('LaTeX booktabs table: rules, escaped underscores and percent, LaTeX minus, caption', () => {
  const expected = [
    '\\begin{table}[t]',
    '\\centering',
    '\\begin{tabular}{llrrr}',
    '\\toprule',
    'Budget & Method & qa\\_en & sum & Avg. \\\\',
    '\\midrule',
    '-- & Full cache & 0.0\\% & 0.0\\% & 0.0\\% \\\\',
    '\\midrule',
    '64 & snapkv & 10.0\\% & 10.0\\% & 10.0\\% \\\\',
    ' & h2o\\_lite & 20.0\\% & $-$5.0\\% & 7.5\\% \\\\',
    '\\midrule',
    '20\\% & snapkv & 2.0\\% & 2.0\\% & 2.0\\% \\\\',
    ' & h2o\\_lite & 6.0\\% & -- & -- \\\\',
    '\\bottomrule',
    '\\end{tabular}',
    '\\caption{Loss \\& score at 20\\%}',
    '\\label{tab:res}',
    '\\end{table}',
    '',
  ].join('\n');
  assert.equal(resultsLatex(ROWS, { value: 'loss', caption: 'Loss & score at 20%', label: 'tab:res' }), expected);
  const bare = resultsLatex(ROWS);
  assert.ok(bare.startsWith('\\begin{tabular}{llrrr}\n\\toprule\n') && bare.endsWith('\\bottomrule\n\\end{tabular}\n'));
  assert.ok(bare.includes('64 & snapkv & 45.00 (10.0\\%) & 18.00 (10.0\\%) & 31.50 (10.0\\%) \\\\'));
});

test('escaping: every LaTeX special and Markdown markup character', () => {
  assert.equal(
    escapeLatex('a_b & c% $d #e {f} ~g ^h \\i <j>'),
    'a\\_b \\& c\\% \\$d \\#e \\{f\\} \\textasciitilde{}g \\textasciicircum{}h \\textbackslash{}i \\textless{}j\\textgreater{}',
  );
  assert.equal(escapeMarkdown('a|b *c* _d_ `e` [f] <g> ~h \\'), 'a\\|b \\*c\\* \\_d\\_ \\`e\\` \\[f\\] \\<g\\> \\~h \\\\');
});

test('grid: full-cache rows of the full method feed the reference row; method order is the input order', () => {
  const withFull = [
    ...ROWS.map((r) => ({ ...r, fullScore: null, qualityLoss: null })),
    { ...row('qa_en', 'full', 'full', 512, 50) },
    { ...row('sum', 'full', 'full', 512, 20) },
  ];
  const grid = buildResultsGrid(withFull);
  assert.deepEqual(
    grid.rows.map((r) => [r.budgetLabel, r.method]),
    [
      [null, 'Full cache'],
      ['64', 'snapkv'],
      ['64', 'h2o_lite'],
      ['20%', 'snapkv'],
      ['20%', 'h2o_lite'],
    ],
  );
  assert.deepEqual(
    grid.rows[0].cells.map((c) => c.score),
    [50, 20],
  );
  assert.equal(grid.rows[1].cells[0].loss, null, 'no loss without fullScore on the row');
});

test('HTML table escapes names and marks budget groups', () => {
  const html = resultsHtml([{ ...row('qa_en', '<b>x</b>', '64', 64, 45) }]);
  assert.ok(html.includes('&lt;b&gt;x&lt;/b&gt;') && !html.includes('<b>'));
  assert.ok(html.startsWith('<table class="results">'));
});

test('average: false drops the Avg. column (columns that are splits, not tasks)', () => {
  const md = resultsMarkdown(ROWS, { value: 'score', average: false });
  const header = md.split('\n')[0];
  assert.equal(
    header
      .split('|')
      .map((c) => c.trim())
      .filter(Boolean)
      .join(','),
    'Budget,Method,qa\\_en,sum',
  ); // markdown escapes the underscore
  assert.ok(!resultsLatex(ROWS, { average: false }).includes('Avg.'));
  assert.ok(resultsLatex(ROWS).includes('Avg.'));
  assert.ok(!resultsHtml(ROWS, { average: false }).includes('Avg.'));
});
